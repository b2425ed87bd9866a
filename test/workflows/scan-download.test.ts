/**
 * ScanDownloadWorkflow with stubbed activities on the time-skipping server (test/support/workflow-tests.ts): download
 * attempts that Temporal retries with the monitor's backoff until the end time, the post-download step, the gave-up
 * email, `cancel`, and `scansArrived` during a running attempt. The same with real jobs, database and SMTP server:
 * test/integration/scan-download.time-skipping.test.ts and download-jobs-bash.dev-server.test.ts.
 */
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import {
  cancelSignal,
  jobsTaskQueue,
  MONITORING_CANCELLED,
  scansArrivedSignal,
  statusQuery,
  type ScanDownloadInput,
  type ScanDownloadResult,
  WAITING_FOR_XNAT,
} from '../../surface';
import { ScanDownloadWorkflow } from '../../workflows';
import { gate, waitFor, workflowTests } from '../support/workflow-tests';

const HOUR = 3_600_000;

/** What the real activity throws after a job that brought no scans: Temporal retries after the backoff. */
function noScansYet(): never {
  const { attempt } = Context.current().info;
  throw ApplicationFailure.create({ type: 'ScansNotYetArrived', message: 'no scans yet', details: [{ attempt }] });
}
const scansThere = async () => ({ scans: 2, attempt: Context.current().info.attempt });

const wf = workflowTests({
  waitForXnatArchive: async () => ({ ready: 'no-xnat-project' }),
  downloadScans: async () => noScansYet(),
  runPostDownload: async () => ({ script: 'post_download.sh', exitCode: 0 }),
  sendMonitorEmail: async () => ({ sent: true, recipients: 1 }),
});

const input: ScanDownloadInput = {
  sessionId: 'SPN01_CMH_0001_01_01',
  studyId: 'SPN01',
  siteId: 'CMH',
  downloadWindowMs: 48 * HOUR,
  retryInitialMs: HOUR,
  retryMaxMs: 6 * HOUR,
};

const startedAt = async (handle: WorkflowHandle) => (await handle.describe()).startTime.getTime();
/** Hours after the start at which each download attempt began. */
const attemptHours = (start: number) => wf.calls('downloadScans').map((call) => Math.round((call.at - start) / HOUR));

test('scans there at the first attempt: the post-download job runs, on the jobs queue; downloaded', async () => {
  wf.stub({ downloadScans: scansThere });
  const handle = await wf.start(ScanDownloadWorkflow, input);
  expect(await handle.result()).toEqual<ScanDownloadResult>({ outcome: 'downloaded', attempts: 1 });
  expect(wf.calls().map((call) => [call.activity, call.taskQueue])).toEqual([
    ['waitForXnatArchive', wf.taskQueue],
    ['downloadScans', jobsTaskQueue(wf.taskQueue)],
    ['runPostDownload', jobsTaskQueue(wf.taskQueue)],
  ]);
  expect(wf.calls('runPostDownload')[0].args).toEqual([{ sessionId: input.sessionId }]);
});

test('not archived in XNAT at first: waiting-for-xnat, checked again on the backoff; once archived, the download', async () => {
  let looks = 0;
  wf.stub({
    waitForXnatArchive: async () => {
      looks += 1;
      if (looks < 3)
        throw ApplicationFailure.create({ type: WAITING_FOR_XNAT, message: 'in the prearchive', details: [{}] });
      return { ready: 'archived' };
    },
    downloadScans: scansThere,
  });
  const handle = await wf.start(ScanDownloadWorkflow, input);
  await waitFor(async () => (await handle.query(statusQuery)).state === 'waiting-for-xnat', 'the wait for XNAT');
  expect(wf.calls('downloadScans')).toHaveLength(0);
  expect(await handle.result()).toEqual<ScanDownloadResult>({ outcome: 'downloaded', attempts: 1 });
  expect(wf.calls().map((call) => call.activity)).toEqual([
    'waitForXnatArchive',
    'waitForXnatArchive',
    'waitForXnatArchive',
    'downloadScans',
    'runPostDownload',
  ]);
});

test('scans at the third attempt (0, 1, 3 hours): the post-download step, then downloaded after 3 attempts', async () => {
  const postDownload = gate();
  wf.stub({
    downloadScans: async () => (Context.current().info.attempt < 3 ? noScansYet() : scansThere()),
    runPostDownload: async () => {
      await postDownload.wait;
      return { script: 'post_download.sh', exitCode: 0 };
    },
  });
  const handle = await wf.start(ScanDownloadWorkflow, input);
  const result = handle.result(); // lets time run through the backoff
  await waitFor(async () => (await handle.query(statusQuery)).state === 'post-download', 'the post-download step');
  expect(await handle.query(statusQuery)).toMatchObject({ state: 'post-download', attempts: 3 });
  postDownload.open();
  expect(await result).toEqual({ outcome: 'downloaded', attempts: 3 });
  expect(attemptHours(await startedAt(handle))).toEqual([0, 1, 3]);
});

test('no scans before the end time: attempts at 0, 1, 3, 7, 13 … 43 hours, then gave-up and one email', async () => {
  const handle = await wf.start(ScanDownloadWorkflow, input);
  expect(await handle.result()).toEqual<ScanDownloadResult>({ outcome: 'gave-up', attempts: 10 });
  const start = await startedAt(handle);
  expect(attemptHours(start)).toEqual([0, 1, 3, 7, 13, 19, 25, 31, 37, 43]);
  const { endTime } = await handle.query(statusQuery);
  expect(Date.parse(endTime!) - start).toBeGreaterThanOrEqual(48 * HOUR);
  expect(Date.parse(endTime!) - start).toBeLessThan(48 * HOUR + 60_000);
  expect(wf.calls('runPostDownload')).toHaveLength(0);
  // Composed where it is sent: the history holds the request, never the email's text.
  expect(wf.calls('sendMonitorEmail').map((call) => call.args)).toEqual([
    [
      {
        kind: 'download-gave-up',
        key: `${handle.workflowId}:${handle.firstExecutionRunId}:download-gave-up`,
        sessionId: input.sessionId,
        windowMs: 48 * HOUR,
        endTime,
        attempts: 10,
      },
    ],
  ]);
});

test('an explicit end time 3 hours away: attempts at 0 and 1 hour, then gave-up', async () => {
  const endTime = new Date((await wf.env.currentTimeMs()) + 3 * HOUR).toISOString();
  const handle = await wf.start(ScanDownloadWorkflow, { ...input, endTime });
  expect(await handle.result()).toEqual({ outcome: 'gave-up', attempts: 2 });
  expect(wf.calls('sendMonitorEmail')[0].args[0]).toMatchObject({ endTime, attempts: 2 });
});

test('an end time that is not an ISO time fails the monitor at once, naming it', async () => {
  const handle = await wf.start(ScanDownloadWorkflow, { ...input, endTime: 'next friday' });
  await expect(handle.result()).rejects.toMatchObject({
    cause: { type: 'InvalidInput', message: expect.stringContaining('"next friday" is not an ISO time') },
  });
  expect(wf.calls()).toHaveLength(0);
});

test.each([
  ['the cancel signal, during the backoff', 'signal'],
  ['a cancel recorded on the session, found by the next attempt', 'session'],
])('cancelled by %s: ends cancelled with the reason, no post-download, no email', async (_, how) => {
  if (how === 'session') {
    wf.stub({
      downloadScans: async () => {
        if (Context.current().info.attempt < 2) noScansYet();
        throw ApplicationFailure.create({
          type: MONITORING_CANCELLED,
          nonRetryable: true,
          message: 'Monitoring was cancelled',
          details: [{ reason: 'withdrew' }],
        });
      },
    });
  }
  const handle = await wf.start(ScanDownloadWorkflow, input);
  await waitFor(() => wf.calls('downloadScans').length === 1, 'the first attempt');
  if (how === 'signal') await handle.signal(cancelSignal, { reason: 'withdrew' });
  expect(await handle.result()).toMatchObject({ outcome: 'cancelled', cancelReason: 'withdrew' });
  expect(await handle.query(statusQuery)).toMatchObject({
    state: 'done',
    outcome: 'cancelled',
    cancelReason: 'withdrew',
  });
  expect(wf.calls().map((call) => call.activity)).toEqual(
    how === 'signal'
      ? ['waitForXnatArchive', 'downloadScans']
      : ['waitForXnatArchive', 'downloadScans', 'downloadScans'],
  );
});

test('scansArrived during a running attempt: its job runs to its end, then the monitor checks again at once', async () => {
  const job = gate();
  let stopAsked = false;
  wf.stub({
    downloadScans: async () => {
      if (wf.calls('downloadScans').length > 1) return scansThere();
      const context = Context.current();
      // The job runs until the test ends it, heartbeating as the real activity does; a cancel does not stop it.
      let running = true;
      void job.wait.then(() => (running = false));
      while (running) {
        context.heartbeat();
        stopAsked ||= context.cancellationSignal.aborted;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (context.cancellationSignal.aborted) throw new CancelledFailure('asked to stop; the job has ended');
      return noScansYet();
    },
  });
  const handle = await wf.start(ScanDownloadWorkflow, input);
  await waitFor(() => wf.calls('downloadScans').length === 1, 'the first attempt');
  await handle.signal(scansArrivedSignal);
  await waitFor(() => stopAsked, 'the attempt to be asked to stop');
  expect(wf.calls('downloadScans')).toHaveLength(1);
  expect(await handle.query(statusQuery)).toMatchObject({ state: 'downloading' });
  job.open();
  // Time stands still here (no result awaited): only the signal can have started the check, not the backoff.
  await waitFor(async () => (await handle.query(statusQuery)).state === 'done', 'the monitor to finish');
  const [first, second] = wf.calls('downloadScans');
  expect(second.at - first.at).toBeLessThan(60_000); // not after the hour of backoff
  expect(wf.calls('runPostDownload')).toHaveLength(1);
  expect(await handle.result()).toEqual({ outcome: 'downloaded', attempts: 1 });
});
