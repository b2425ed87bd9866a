/**
 * `npm start` keeps its embedded PostgreSQL and Temporal dev server running: each killed (SIGKILL, as the OOM killer
 * or a stray `kill -9` does) is started again, /readyz answers 200 again and a trigger sent after is filed, without
 * anyone restarting `npm start`. One that cannot be started again (its port taken) makes `npm start` exit non-zero,
 * saying which in one line, rather than stay up unready.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EMBEDDED_DATABASE, runningEmbeddedPostgresUrl } from '../../src/db/embedded-postgres';
import { openDatabase, type Orm } from '../../src/db/orm';
import { FakeRedcap } from '../support/fake-redcap';
import { applySmallLab } from '../support/lab-config';
import { freePort } from '../support/ports';
import { eventually, startTsProcess, waitForProcess, type ServiceProcess } from '../support/processes';

jest.setTimeout(300_000);

const REDCAP_TOKEN = 'SUPERV15EDSUPERV15EDSUPERV15ED00';
const root = path.resolve(__dirname, '..', '..');
let dataDir: string;
let ports: { api: number; postgres: number; temporal: number; ui: number };
let start: ServiceProcess;
let redcap: FakeRedcap;
let orm: Orm | undefined;

const readyz = () =>
  fetch(`http://127.0.0.1:${ports.api}/readyz`).then(
    (r) => r.status,
    () => 0,
  );

/** REDCap has a completed scan log for participant n, and sends its trigger; the answer's status. */
async function trigger(n: number): Promise<number> {
  redcap.saveRow(REDCAP_TOKEN, {
    record_id: String(n),
    session_id: `SPN01_CMH_${String(n).padStart(4, '0')}_01_01`,
    scan_date: '2026-11-20',
    comments: `scan ${n}`,
    ra_id: '42',
    mri_scan_log_complete: '2',
  });
  const response = await fetch(`http://127.0.0.1:${ports.api}/redcap`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      redcap_url: redcap.url,
      project_url: `${redcap.url}redcap_v14.5.2/index.php?pid=1234`,
      project_id: '1234',
      record: String(n),
      instrument: 'mri_scan_log',
      mri_scan_log_complete: '2',
    }),
  }).catch(() => undefined);
  return response?.status ?? 0;
}

const filed = (n: number) =>
  orm!.em
    .fork()
    .getConnection()
    .execute<Array<{ n: string }>>(`select count(*) as n from redcap_record where record = ?`, [String(n)])
    .then(
      ([row]) => Number(row.n) === 1,
      () => false,
    );

/** After a kill: back to ready, then a trigger accepted and its record filed. */
async function expectRecovered(n: number, restarted: RegExp): Promise<void> {
  await waitForProcess(start, () => restarted.test(start.output()), 'npm start to say it restarts it', 60_000);
  await waitForProcess(start, async () => (await readyz()) === 200, '/readyz to answer 200 again', 120_000);
  await eventually(async () => (await trigger(n)) === 202, 'the trigger to be accepted', 60_000, 1_000);
  await eventually(() => filed(n), `record ${n} to be filed`, 120_000, 500);
}

const postmasterPid = () =>
  Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
function devServerPid(): number {
  const line = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .find((l) => l.includes('start-dev') && l.includes(path.join(dataDir, 'temporal.sqlite')));
  return Number(line!.trim().split(/\s+/)[0]);
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'npm-start-supervision-'));
  fs.chmodSync(dataDir, 0o755); // PostgreSQL may run as its own user (when we are root)
  ports = { api: await freePort(), postgres: await freePort(), temporal: await freePort(), ui: await freePort() };
  redcap = await FakeRedcap.start();
  redcap.addProject({ token: REDCAP_TOKEN, records: [] });
  start = startTsProcess(path.join(root, 'src', 'start.ts'), [], {
    DATA_DIR: dataDir,
    PORT: String(ports.api),
    EMBEDDED_POSTGRES_PORT: String(ports.postgres),
    EMBEDDED_TEMPORAL_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.ui),
    DATABASE_URL: '',
    TEMPORAL_ADDRESS: '',
    TEMPORAL_TASK_QUEUE: 'supervision',
    SCAN_CHECK_DELAY: '1 hour',
    RECONCILE_INTERVAL: 'off',
    API_TOKEN: 'supervision-token',
  });
  await waitForProcess(start, async () => (await readyz()) === 200, 'npm start to be ready', 180_000);
  orm = await openDatabase(runningEmbeddedPostgresUrl(path.join(dataDir, 'postgres'), EMBEDDED_DATABASE)!);
  await applySmallLab(orm.em.fork(), redcap.url, REDCAP_TOKEN);
  await eventually(async () => (await trigger(1)) === 202, 'the first trigger to be accepted', 30_000, 500);
  await eventually(() => filed(1), 'record 1 to be filed', 60_000, 500);
});

afterAll(async () => {
  await start?.stop('SIGINT');
  await orm?.close(true);
  await redcap?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('its PostgreSQL SIGKILLed: started again, /readyz 200 again, a trigger sent after is filed', async () => {
  process.kill(postmasterPid(), 'SIGKILL');
  await expectRecovered(2, /the embedded PostgreSQL exited \(signal SIGKILL\); restarting/);
  expect(start.output()).toMatch(/the embedded PostgreSQL restarted/);
  expect(start.ended()).toBeUndefined();
});

test('its Temporal dev server SIGKILLed: started again, /readyz 200 again, a trigger sent after is filed', async () => {
  process.kill(devServerPid(), 'SIGKILL');
  await expectRecovered(3, /the Temporal dev server exited \(signal SIGKILL\); restarting/);
  expect(start.output()).toMatch(/the Temporal dev server restarted/);
  expect(start.ended()).toBeUndefined();
});

test('its PostgreSQL SIGKILLed and its port taken: npm start exits non-zero, naming it in one line', async () => {
  const pid = postmasterPid();
  process.kill(pid, 'SIGKILL');
  // Another program takes the port as soon as it is free: PostgreSQL cannot start on it again.
  const squatter = net.createServer((socket) => socket.destroy());
  await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        squatter.once('error', () => resolve(false));
        squatter.listen(ports.postgres, '127.0.0.1', () => resolve(true));
      }),
    'the port to be free',
    5_000,
    20,
  );
  try {
    await new Promise((resolve) => start.child.once('exit', resolve));
    const lines = start.output().split('\n');
    expect(start.ended()).toBe('code 1');
    expect(lines.filter((line) => line.startsWith('npm start: '))).toEqual([
      expect.stringMatching(
        /^npm start: the embedded PostgreSQL exited \(signal SIGKILL\) and could not be restarted: .*port/,
      ),
    ]);
    // It stopped what it had started: the dev server is gone too.
    expect(() => devServerPid()).toThrow();
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});
