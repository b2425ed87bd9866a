/**
 * The job ledger on a real database tells a running job from a gone one by the job's process as the kernel names it
 * (boot id and pid namespace, pid, start time), never by hostname and pid: a job of a worker in another container
 * with this machine's hostname (its own pids) is running, not lost; a pid reused by another process is not the job;
 * a job of this machine whose process group is gone has ended at once, without waiting for its worker's renewal.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { JobRun } from '../../src/db/job-run';
import type { Orm } from '../../src/db/orm';
import { claimJobRun, PID_SPACE, recordJobStart, runningJob, settleJobRun } from '../../src/jobs/ledger';
import { submitJob } from '../../src/jobs/submit';
import { createTestDatabase } from '../support/db';
import { eventually, startTsProcess, waitForProcess, type ServiceProcess } from '../support/processes';

jest.setTimeout(120_000);

let orm: Orm;
let databaseUrl: string;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'job-ledger-'));
fs.writeFileSync(path.join(dir, 'long.sh'), 'sleep 300\n');
const children: ServiceProcess[] = [];
const em = () => orm.em.fork() as EntityManager;
const settle = (row: JobRun) => settleJobRun(em(), row, undefined, dir);

beforeAll(async () => {
  ({ orm, url: databaseUrl } = await createTestDatabase());
});

afterAll(async () => {
  for (const child of children) await child.stop('SIGKILL');
  await orm.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const claim = (sessionId: string) =>
  claimJobRun(em(), {
    sessionId,
    kind: 'download',
    command: 'long.sh',
    workflowId: `scan-download:${sessionId}`,
    runId: 'run',
    attempt: 1,
  });

test('a job of a worker in another container with this hostname (its own pids) runs: not lost, no second job', async () => {
  const sessionId = 'SPN01_CMH_0001_01_01';
  // Another container: a pid namespace of its own, this machine's hostname and network (host networking).
  const worker = startTsProcess(
    path.join(__dirname, '..', 'support', 'job-runner-process.ts'),
    [databaseUrl, sessionId, dir, 'long.sh'],
    {},
    ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--mount-proc', '--kill-child'],
  );
  children.push(worker);
  await waitForProcess(worker, () => /running \d+/.test(worker.output()), 'the other container to run its job');
  const row = (await runningJob(em(), sessionId, 'download'))!;
  expect(row.host).toBe(os.hostname());
  expect(row.pidSpace).not.toBe(PID_SPACE);

  expect(await settle(row)).toMatchObject({ state: 'active' });
  expect(await runningJob(em(), sessionId, 'download')).toMatchObject({ id: row.id, status: 'running' });
  expect(await claim(sessionId)).toBeNull(); // no second download job of the session

  // That container is gone (and its job with it): once its worker has not renewed the row for 2 minutes, it is lost.
  await worker.stop('SIGKILL');
  await em().nativeUpdate(JobRun, { id: row.id }, { aliveAt: new Date(Date.now() - 3 * 60_000) });
  expect(await settle((await runningJob(em(), sessionId, 'download'))!)).toMatchObject({ state: 'ended' });
  expect(await em().findOneOrFail(JobRun, row.id)).toMatchObject({ status: 'lost' });
});

test('a job of this machine: running while its process group is; ended at once when it is gone', async () => {
  const sessionId = 'SPN01_CMH_0002_01_01';
  const row = (await claim(sessionId))!;
  const controller = new AbortController();
  let started!: Promise<void>;
  const job = submitJob(
    { command: 'bash', options: [], scriptsDir: dir },
    'long.sh',
    { study: 'SPN01', session: sessionId },
    {
      signal: controller.signal,
      onStart: (pid) => (started = recordJobStart(em(), row.id, pid)),
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  await started;
  const running = (await runningJob(em(), sessionId, 'download'))!;
  expect(running).toMatchObject({ pidSpace: PID_SPACE, pidStart: expect.any(Number) });
  expect(await settle(running)).toMatchObject({ state: 'active' });

  // Its worker died (its renewal is fresh still): once the group is gone (its last process reaped), the job has ended.
  controller.abort();
  await job.catch(() => undefined);
  await eventually(async () => (await settle(running)).state === 'ended', 'the job to be seen ended', 10_000);
  expect(await em().findOneOrFail(JobRun, row.id)).toMatchObject({ status: 'lost' });
});

test('a pid reused by another process is not the job: ended, not running forever', async () => {
  const sessionId = 'SPN01_CMH_0003_01_01';
  const row = (await claim(sessionId))!;
  // Another process now has the pid the job had (a process group of its own, as a job's is).
  const other = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  try {
    await em().nativeUpdate(JobRun, { id: row.id }, { pid: other.pid, pidSpace: PID_SPACE, pidStart: 1 });
    expect(await settle((await runningJob(em(), sessionId, 'download'))!)).toMatchObject({ state: 'ended' });
  } finally {
    other.kill('SIGKILL');
  }
});

test('the checked-in migrations create the job_run table the entity describes', async () => {
  expect(await orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
});
