/**
 * Download jobs queued with SUBMIT_COMMAND=sbatch (a fake Slurm in files, test/support/fake-slurm.ts, first on
 * PATH), on the suite's dev server with short backoffs: a job still queued is never submitted again, a job whose
 * state cannot be read is not either, and the post-download job is submitted once the download job has ended.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { JobRun } from '../../src/db/job-run';
import { startScanMonitors } from '../../src/temporal/monitors';
import { cancelSignal, scansArrivedSignal, statusQuery } from '../../surface';
import { createFakeSlurm, type FakeSlurm } from '../support/fake-slurm';
import { addScan, seedSession, uniqueSessionId } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';
import { connectDevServer, quietTemporalLogs } from '../support/temporal';

let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let lab: MonitorHarness;
let slurm: FakeSlurm;
let serial = 0;
const path = process.env.PATH;

beforeAll(async () => {
  quietTemporalLogs();
  slurm = createFakeSlurm();
  process.env.PATH = `${slurm.bin}:${path}`;
  temporal = await connectDevServer();
  lab = await startMonitorHarness(temporal, {
    env: {
      SUBMIT_COMMAND: 'sbatch',
      SCAN_CHECK_DELAY: '1 hour',
      DOWNLOAD_WINDOW: '1 hour',
      DOWNLOAD_RETRY_INITIAL: '1s',
      DOWNLOAD_RETRY_MAX: '2s',
    },
  });
});

afterAll(async () => {
  await lab?.close();
  await temporal?.close();
  process.env.PATH = path;
});

async function startDownload(): Promise<{ sessionId: string; handle: WorkflowHandle }> {
  serial += 1;
  const sessionId = uniqueSessionId('CMH', serial);
  await seedSession(lab.orm, sessionId);
  const started = await startScanMonitors(temporal.client, lab.config, {
    sessionId,
    studyId: 'SPN01',
    siteId: 'CMH',
    downloadScript: 'download.sh',
  });
  await temporal.client.workflow
    .getHandle(started.scanImport.workflowId)
    .signal(cancelSignal, { reason: 'not under test' });
  return {
    sessionId,
    handle: temporal.client.workflow.getHandle(started.scanDownload!.workflowId, started.scanDownload!.runId),
  };
}

const submissions = (script: string, sessionId: string) =>
  slurm.submitted().filter((line) => line.includes(`/${script} `) && line.endsWith(` ${sessionId}`)).length;

/** The running download attempt as Temporal shows it: its number and last failure. */
async function pendingAttempt(handle: WorkflowHandle): Promise<{ attempt: number; lastFailure: string }> {
  const pending = (await handle.describe()).raw.pendingActivities?.find(
    (a) => a.activityType?.name === 'downloadScans',
  );
  return { attempt: pending?.attempt ?? 0, lastFailure: pending?.lastFailure?.message ?? '' };
}

const jobRuns = (sessionId: string) => lab.orm.em.fork().find(JobRun, { sessionId }, { orderBy: { id: 'asc' } });

test('a job still queued is never submitted again; once it has ended and the scans are there, the post-download job is submitted, once', async () => {
  slurm.hold(true);
  const { sessionId, handle } = await startDownload();
  await eventually(() => submissions('download.sh', sessionId) === 1, 'the download job to be queued');
  // Attempt after attempt finds it PENDING, and submits nothing.
  let pending = { attempt: 0, lastFailure: '' };
  await eventually(async () => (pending = await pendingAttempt(handle)).attempt >= 4, 'four download attempts');
  expect(pending.lastFailure).toMatch(
    /download job of .* \(job \d+, submitted .*\) is still queued or running \(PENDING\); not submitting another/,
  );
  expect(submissions('download.sh', sessionId)).toBe(1);

  // The scans land while the job is still in the queue (registered by hand): the monitor waits for the job to end.
  await addScan(lab.orm, sessionId);
  await handle.signal(scansArrivedSignal);
  const after = pending.attempt;
  await eventually(async () => (pending = await pendingAttempt(handle)).attempt >= after + 2, 'two more attempts');
  expect(pending.lastFailure).toMatch(/still queued or running/);
  expect(submissions('post_download.sh', sessionId)).toBe(0);

  slurm.hold(false);
  expect(await handle.result()).toEqual({ outcome: 'downloaded', attempts: expect.any(Number) });
  expect(submissions('download.sh', sessionId)).toBe(1);
  expect(submissions('post_download.sh', sessionId)).toBe(1);
  expect(lab.jobRuns('download', sessionId)).toBe(1); // the download job ran, before the post-download job was submitted
  expect((await jobRuns(sessionId)).map((r) => [r.kind, r.status, r.jobId])).toEqual([
    ['download', 'ended', expect.stringMatching(/^\d+$/)],
    ['post-download', 'running', expect.stringMatching(/^\d+$/)], // queued on the cluster; ended when a later attempt reads it
  ]);
});

test('a state that cannot be read submits nothing until it can; a job that ended without scans is then submitted again', async () => {
  const { sessionId, handle } = await startDownload();
  slurm.breakSqueue(true);
  await eventually(() => submissions('download.sh', sessionId) === 1, 'the download job to be queued');
  await eventually(
    () => slurm.queued().length === 0 && lab.jobRuns('download', sessionId) === 1,
    'the job to run and end',
  );
  let pending = { attempt: 0, lastFailure: '' };
  await eventually(async () => (pending = await pendingAttempt(handle)).attempt >= 4, 'four download attempts');
  expect(pending.lastFailure).toMatch(
    /Cannot tell whether the download job of .* still runs: status command exited 1: slurm_load_jobs error: Unable to contact slurm controller/,
  );
  expect(submissions('download.sh', sessionId)).toBe(1);

  slurm.breakSqueue(false); // squeue answers again: "Invalid job id", the job is long gone, no scans: submit again
  await eventually(() => submissions('download.sh', sessionId) === 2, 'a second submission');
  await addScan(lab.orm, sessionId);
  await handle.signal(scansArrivedSignal);
  expect(await handle.result()).toMatchObject({ outcome: 'downloaded' });
  expect(submissions('download.sh', sessionId)).toBe(2);
  expect((await jobRuns(sessionId)).filter((r) => r.kind === 'download').map((r) => r.status)).toEqual([
    'ended',
    'ended',
  ]);
});

test('a monitor cancelled while its job is queued ends at once; the queued job is left to the cluster', async () => {
  slurm.hold(true);
  const { sessionId, handle } = await startDownload();
  await eventually(() => submissions('download.sh', sessionId) === 1, 'the download job to be queued');
  await handle.signal(cancelSignal, { reason: 'fetched by hand' });
  expect(await handle.result()).toEqual({ outcome: 'cancelled', attempts: 0, cancelReason: 'fetched by hand' });
  expect(await handle.query(statusQuery)).toMatchObject({ state: 'done', outcome: 'cancelled' });
  slurm.hold(false);
  await eventually(() => slurm.queued().length === 0, 'the cluster to run it');
  const [row] = await jobRuns(sessionId);
  expect(row).toMatchObject({ kind: 'download', status: 'running' }); // until an attempt of a later monitor reads it
});
