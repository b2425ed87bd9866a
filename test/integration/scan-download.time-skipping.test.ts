/**
 * ScanDownloadWorkflow on Temporal's time-skipping test server, with the real default durations: download
 * attempts with backoff from 1 hour doubling to 6 hours until an end time 2 days after the start, the
 * gave-up email, cancel and scansArrived. Real activities submit real job scripts (bash), on a real database; one
 * test stubs the download attempt (one that never ends).
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { StudySite } from '../../src/db/entities';
import { JobRun } from '../../src/db/job-run';
import { startScanMonitors } from '../../src/temporal/monitors';
import { workflowSource } from '../../src/temporal/workflow-bundle';
import { cancelSignal, jobsTaskQueue, scansArrivedSignal, statusQuery, type ScanDownloadResult } from '../../surface';
import { historyText } from '../support/history-text';
import { addScan, seedSession } from '../support/lab';
import { timeSkippingMonitors, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';

const HOUR = 3_600_000;
let env: TestWorkflowEnvironment;
let lab: MonitorHarness;
let serial = 0;
timeSkippingMonitors((suite) => ({ env, lab } = suite));

async function startDownload(options: { site?: string; endTime?: string } = {}) {
  serial += 1;
  const site = options.site ?? 'CMH';
  const sessionId = `SPN01_${site}_${String(serial).padStart(4, '0')}_01_01`;
  await seedSession(lab.orm, sessionId);
  const started = await startScanMonitors(
    env.client,
    lab.config,
    { sessionId, studyId: 'SPN01', siteId: site, downloadScript: 'download.sh' },
    { downloadEndTime: options.endTime },
  );
  const { workflowId, runId } = started.scanDownload!;
  // The import monitor of the same session is not under test here. Cancelled, not terminated: terminating a
  // workflow whose activity is in flight leaves the test server's time-skipping lock held. Not awaited
  // either: awaiting a result lets time run, and the download monitor would make attempts meanwhile.
  await env.client.workflow.getHandle(started.scanImport.workflowId).signal(cancelSignal, { reason: 'not under test' });
  return { sessionId, handle: env.client.workflow.getHandle(workflowId, runId) };
}

/** Waits (with time standing still) until the download job was submitted `count` times. */
async function submitted(sessionId: string, count: number): Promise<void> {
  await eventually(() => lab.jobRuns('download', sessionId) >= count, `${count} download submissions for ${sessionId}`);
}

test('scans already there: no download job, the post-download job runs, downloaded', async () => {
  serial += 1;
  const sessionId = `SPN01_CMH_${String(serial).padStart(4, '0')}_01_01`;
  await seedSession(lab.orm, sessionId);
  await addScan(lab.orm, sessionId);
  const started = await startScanMonitors(env.client, lab.config, {
    sessionId,
    studyId: 'SPN01',
    siteId: 'CMH',
    downloadScript: 'download.sh',
  });
  const handle = env.client.workflow.getHandle(started.scanDownload!.workflowId);
  expect(await handle.result()).toEqual<ScanDownloadResult>({ outcome: 'downloaded', attempts: 1 });
  expect(lab.jobRuns('download', sessionId)).toBe(0);
  expect(lab.jobRuns('post_download', sessionId)).toBe(1);
  expect(lab.smtp.messages).toHaveLength(0);
});

test('no scans for 2 days: attempts at 0, 1, 3, 7, 13, 19, 25, 31, 37, 43 hours, then gave-up and one email', async () => {
  const { sessionId, handle } = await startDownload();
  const startedAt = (await handle.describe()).startTime.getTime();
  await eventually(async () => (await handle.query(statusQuery)).state === 'downloading', 'the monitor to download');
  const window = Date.parse((await handle.query(statusQuery)).endTime!) - startedAt;
  expect(window).toBeGreaterThanOrEqual(48 * HOUR);
  expect(window).toBeLessThan(48 * HOUR + 60_000);

  expect(await handle.result()).toEqual<ScanDownloadResult>({ outcome: 'gave-up', attempts: 10 });
  expect(lab.jobRuns('download', sessionId)).toBe(10);
  expect(lab.jobRuns('post_download', sessionId)).toBe(0);

  // The schedule of attempts, on the workflow's clock: the activity's retry policy, not a loop of ours.
  const history = await handle.fetchHistory();
  const scheduled = history.events!.filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'downloadScans',
  );
  expect(scheduled).toHaveLength(1);
  const retry = scheduled[0].activityTaskScheduledEventAttributes!.retryPolicy!;
  expect(Number(retry.initialInterval!.seconds)).toBe(3600);
  expect(Number(retry.maximumInterval!.seconds)).toBe(6 * 3600);
  expect(retry.backoffCoefficient).toBe(2);
  expect(retry.nonRetryableErrorTypes).toEqual(expect.arrayContaining(['SessionNotFound', 'JobScriptMissing']));
  // Until the end time: 48 hours from the start, less the moment the XNAT wait's check took (no XNAT project here).
  const untilEnd = Number(scheduled[0].activityTaskScheduledEventAttributes!.scheduleToCloseTimeout!.seconds);
  expect(untilEnd).toBeLessThanOrEqual(48 * 3600);
  expect(untilEnd).toBeGreaterThan(48 * 3600 - 60);

  expect(lab.smtp.messages).toHaveLength(1);
  const [mail] = lab.smtp.messages;
  expect(mail.subject).toBe(`[SPN01] Scan download gave up for ${sessionId}`);
  expect(mail.to).toEqual(['ada@example.org']);
  expect(mail.text).toContain('submitted 10 times over 2 days');
  expect(mail.text).toContain('https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234');
  // Composed where it was sent: the history holds no email text, and no job output.
  const text = historyText(history);
  for (const composed of [
    mail.subject,
    'https://redcap.example.org/',
    '2026-11-20',
    `download submitted for ${sessionId}`,
  ])
    expect(text).not.toContain(composed);
});

test('an explicit end time 3 hours away: attempts at 0 and 1 hour, then gave-up', async () => {
  const endTime = new Date((await env.currentTimeMs()) + 3 * HOUR).toISOString();
  const { sessionId, handle } = await startDownload({ endTime });
  expect(await handle.result()).toEqual({ outcome: 'gave-up', attempts: 2 });
  expect(lab.jobRuns('download', sessionId)).toBe(2);
  expect(lab.smtp.messages).toHaveLength(1);
});

test('the end time passes during an attempt (its job still running): gave-up with its email, the attempt counted', async () => {
  // A worker of this test's own: today's workflows and activities, but a download attempt that never ends (as a
  // job still running, or a worker gone mid-attempt), only heartbeating its attempt number.
  const taskQueue = `hung-attempt-${randomUUID()}`;
  const { description: _, ...source } = workflowSource();
  const common = { connection: env.nativeConnection, namespace: lab.config.temporalNamespace };
  const hung = async () => {
    const context = Context.current();
    context.heartbeat({ attempt: context.info.attempt });
    await context.cancelled.catch(() => undefined);
    throw new Error('stopped');
  };
  const workers = [
    await Worker.create({ ...common, taskQueue, ...source, activities: createActivities(lab.deps) }),
    await Worker.create({ ...common, taskQueue: jobsTaskQueue(taskQueue), activities: { downloadScans: hung } }),
  ];
  const running = workers.map((w) => w.run());
  try {
    serial += 1;
    const sessionId = `SPN01_CMH_${String(serial).padStart(4, '0')}_01_01`;
    await seedSession(lab.orm, sessionId);
    const endTime = new Date((await env.currentTimeMs()) + 5_000).toISOString();
    const started = await startScanMonitors(
      env.client,
      { ...lab.config, taskQueue },
      { sessionId, studyId: 'SPN01', siteId: 'CMH', downloadScript: 'download.sh' },
      { downloadEndTime: endTime },
    );
    await env.client.workflow
      .getHandle(started.scanImport.workflowId)
      .signal(cancelSignal, { reason: 'not under test' });
    const handle = env.client.workflow.getHandle(started.scanDownload!.workflowId, started.scanDownload!.runId);
    expect(await handle.result()).toEqual({ outcome: 'gave-up', attempts: 1 });
    expect(lab.smtp.messages.map((m) => m.subject)).toEqual([`[SPN01] Scan download gave up for ${sessionId}`]);
    expect(lab.smtp.messages[0].text).toContain('submitted 1 time');
  } finally {
    workers.forEach((w) => w.shutdown());
    await Promise.all(running);
  }
});

test('scans that land between attempts are found at the next attempt: downloaded', async () => {
  const { sessionId, handle } = await startDownload();
  await submitted(sessionId, 1);
  await addScan(lab.orm, sessionId);
  expect(await handle.result()).toEqual({ outcome: 'downloaded', attempts: 2 });
  expect(lab.jobRuns('download', sessionId)).toBe(1);
  expect(lab.jobRuns('post_download', sessionId)).toBe(1);
  expect(lab.smtp.messages).toHaveLength(0);
});

test('scansArrived cancels the pending attempt and checks again at once', async () => {
  const { sessionId, handle } = await startDownload();
  await submitted(sessionId, 1);
  await addScan(lab.orm, sessionId);
  await handle.signal(scansArrivedSignal);
  // Time does not move here: only the signal can have ended the 1-hour backoff.
  await eventually(async () => (await handle.query(statusQuery)).state === 'done', 'the monitor to finish');
  expect(await handle.result()).toEqual({ outcome: 'downloaded', attempts: 1 });
  expect(lab.jobRuns('post_download', sessionId)).toBe(1);
});

test('scansArrived without scans submits again now and keeps going; cancel then ends it', async () => {
  const { sessionId, handle } = await startDownload();
  await submitted(sessionId, 1);
  // The first attempt has failed (no scans) and waits out its hour of backoff: the signal makes the next one now.
  // (Signalled at once, the signal could land between the job's end and the attempt's failure; on a loaded CI run
  // the second attempt then did not come within a minute of frozen time. A signal during a running job is tested
  // on the dev server: download-jobs-bash.dev-server.test.ts.)
  await eventually(
    async () => ((await handle.describe()).raw.pendingActivities ?? []).some((p) => Number(p.attempt) >= 2),
    'the first attempt to fail and wait for its retry',
  );
  await handle.signal(scansArrivedSignal);
  await submitted(sessionId, 2);
  await handle.signal(cancelSignal, { reason: 'data fetched by hand' });
  expect(await handle.result()).toEqual({ outcome: 'cancelled', attempts: 0, cancelReason: 'data fetched by hand' });
  expect(lab.jobRuns('download', sessionId)).toBe(2);
  expect(lab.jobRuns('post_download', sessionId)).toBe(0);
  expect(lab.smtp.messages).toHaveLength(0);
});

test('a failing submission is retried; its failure keeps the exit status, its stderr stays in the job ledger', async () => {
  const { sessionId, handle } = await startDownload();
  lab.failJob('download', sessionId, 'sbatch: error: QOSMaxSubmitJobPerUserLimit for participant P-0042');
  await submitted(sessionId, 1);
  let lastFailure = '';
  await eventually(async () => {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    lastFailure = pending[0]?.lastFailure?.message ?? '';
    return lastFailure !== '';
  }, 'the pending attempt to show its failure');
  // A job may print anything (participant data too): its stderr is kept in our database, not in the failure
  // (which Temporal keeps, shows in the Web UI, and writes into the history when the attempts end).
  const [row] = await lab.orm.em.fork().find(JobRun, { sessionId, kind: 'download' });
  expect(row).toMatchObject({ status: 'failed', exitCode: 3, detail: expect.stringContaining('P-0042') });
  expect(lastFailure).toBe(
    `Download job for ${sessionId} failed to submit (exit 3); its stderr is kept in job run ${row.id} (GET /sessions/${sessionId}, "jobs")`,
  );
  lab.failJob('download', sessionId, undefined);
  await addScan(lab.orm, sessionId);
  expect(await handle.result()).toEqual({ outcome: 'downloaded', attempts: 2 });
});

test('a download script missing from SUBMIT_SCRIPTS fails the monitor at once (not retried)', async () => {
  await lab.orm.em.fork().nativeUpdate(StudySite, { site: 'ZHH' }, { downloadScript: 'fetch_zhh.sh' });
  const { sessionId, handle } = await startDownload({ site: 'ZHH' });
  const failure = await handle.result().catch((err: unknown) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  const cause = (failure as WorkflowFailedError).cause?.cause as Error & { type?: string };
  expect(cause.type).toBe('JobScriptMissing');
  expect(cause.message).toContain('fetch_zhh.sh');
  expect(lab.jobRuns('download', sessionId)).toBe(0);
  expect(lab.smtp.messages).toHaveLength(0);
});
