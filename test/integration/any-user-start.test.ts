/**
 * `npm start` works for any user from a checkout anywhere: as root from a checkout and DATA_DIR inside a 0700
 * directory (the embedded PostgreSQL must not run as root, yet must reach them), and as an ordinary user. A
 * start-up failure is one line that says what to do. The checkout is a copy of this one (node_modules
 * hard-linked); Temporal is the suite's dev server, so what is tried is the embedded PostgreSQL, the
 * migrations, the API and the worker, as `npm start` runs them.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { devServerAddress } from '../support/temporal';
import { freePort } from '../support/ports';
import { eventually } from '../support/processes';

jest.setTimeout(180_000);

const root = path.resolve(__dirname, '..', '..');
const isRoot = process.getuid?.() === 0;
/** What `npm start` needs of a checkout. */
const CHECKOUT = ['package.json', 'tsconfig.json', 'surface', 'src', 'workflows', 'activities', 'scripts'];

/** A copy of this checkout at `dir` (node_modules hard-linked: fast, and the same files). */
function copyCheckout(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const entry of CHECKOUT) fs.cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  execFileSync('cp', ['-al', path.join(root, 'node_modules'), path.join(dir, 'node_modules')]);
}

interface Run {
  /** /readyz answered 200. */
  ready: boolean;
  /** After Ctrl-C: it logged that everything stopped. */
  stopped: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm start` in `checkout` (as `user`, if given) until /readyz answers, then Ctrl-C; or until it exits by itself. */
async function npmStart(
  checkout: string,
  env: Record<string, string>,
  user?: { uid: number; gid: number },
): Promise<Run> {
  const port = await freePort();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'npm-home-'));
  fs.chmodSync(home, 0o777);
  const child = spawn('npm', ['start'], {
    cwd: checkout,
    env: {
      PATH: process.env.PATH!,
      HOME: home,
      npm_config_cache: path.join(home, '.npm'),
      npm_config_update_notifier: 'false',
      PORT: String(port),
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
      TEMPORAL_ADDRESS: devServerAddress(),
      TEMPORAL_TASK_QUEUE: `any-user-${port}`,
      LOG_LEVEL: 'info',
      ...env,
    },
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: Ctrl-C goes to npm and everything under it, as in a terminal
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let ready = false;
  await eventually(
    async () =>
      child.exitCode !== null ||
      (ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      )),
    () => `npm start to be ready or to exit:\n${stdout}\n${stderr}`,
    120_000,
    250,
  );
  if (ready) process.kill(-child.pid!, 'SIGINT');
  const code = await exited;
  fs.rmSync(home, { recursive: true, force: true });
  return { code, stdout, stderr, ready, stopped: stdout.includes('"msg":"stopped"') };
}

/** PostgreSQL processes left running on a data directory under `dir`. */
function postgresUnder(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes('postgres -D') && line.includes(dir));
}

let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'any-user-'));
  fs.chmodSync(work, 0o755);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

if (isRoot) {
  test('as root, from a checkout and a DATA_DIR inside a 0700 directory', async () => {
    const home = path.join(work, 'root-home');
    fs.mkdirSync(home, { mode: 0o700 });
    const checkout = path.join(home, 'redcap-scan-monitor');
    copyCheckout(checkout);
    const dataDir = path.join(home, 'lab-data');

    const run = await npmStart(checkout, { DATA_DIR: dataDir });
    expect({ ready: run.ready, stopped: run.stopped, stderr: run.stderr }).toEqual({
      ready: true,
      stopped: true,
      stderr: '',
    });
    expect(fs.statSync(path.join(dataDir, 'postgres')).uid).toBe(0); // the user's files stay the user's
    expect(postgresUnder(home)).toEqual([]);

    // Again on the same data: it comes back.
    const again = await npmStart(checkout, { DATA_DIR: dataDir });
    expect({ ready: again.ready, stopped: again.stopped, stderr: again.stderr }).toEqual({
      ready: true,
      stopped: true,
      stderr: '',
    });
    expect(postgresUnder(home)).toEqual([]);
  });
}

test('as an ordinary user', async () => {
  const user = isRoot ? { uid: 65534, gid: 65534 } : undefined; // nobody; or whoever runs the tests
  const place = path.join(work, 'user');
  fs.mkdirSync(place, { mode: 0o755 });
  const checkout = path.join(place, 'redcap-scan-monitor');
  copyCheckout(checkout);
  const dataDir = path.join(place, 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  if (user) fs.chownSync(dataDir, user.uid, user.gid);

  const run = await npmStart(checkout, { DATA_DIR: dataDir }, user);
  expect({ ready: run.ready, stopped: run.stopped, stderr: run.stderr }).toEqual({
    ready: true,
    stopped: true,
    stderr: '',
  });
  expect(postgresUnder(place)).toEqual([]);
});

test('a start-up failure is one line that says what to do, never a stack trace', async () => {
  const checkout = path.join(work, 'user', 'redcap-scan-monitor');
  const blocker = path.join(work, 'not-a-directory');
  fs.writeFileSync(blocker, '');
  const runs = [
    await npmStart(checkout, { DATA_DIR: path.join(blocker, 'data') }),
    await npmStart(checkout, { SCAN_CHECK_DELAY: 'soon' }),
  ];
  for (const run of runs) {
    expect(run.ready).toBe(false);
    expect(run.code).not.toBe(0);
    const ours = run.stderr.split('\n').filter((line) => line.startsWith('npm start: '));
    expect(ours).toHaveLength(1);
    expect(`${run.stdout}\n${run.stderr}`).not.toMatch(/^\s+at .*\(.*:\d+:\d+\)$/m);
  }
  expect(runs[0].stderr).toMatch(/npm start: .*not-a-directory.*DATA_DIR/);
  expect(runs[1].stderr).toMatch(/npm start: Invalid environment: SCAN_CHECK_DELAY: "soon" is not a duration/);
});
