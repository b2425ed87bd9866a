/**
 * A deploy of new workflow code under running workflows, in process. For each release whose workflows may still be
 * running (test/support/releases.ts runningReleases: 0.1.0 and 0.2.0 while 0.2.0's patches are live), monitors
 * (both kinds) and an intake are started on a worker running its frozen code (test/fixtures/releases/<version>),
 * as that release starts them; that worker is stopped with them mid-wait, mid-download, mid-post-download,
 * mid-email (its text composed by the old code, the SMTP server refusing it) and mid-retry of REDCap; a worker on today's workflows/ (createWorker, as `npm run worker`) finishes every one:
 * the right outcome, one email per monitor outcome that calls for one, no workflow task failed (a nondeterminism
 * error would show as WorkflowTaskFailed and leave the workflow stuck), and each history shows the workflow
 * tasks of both builds. On Temporal's time-skipping server with the real durations (2 days, 1-6 hour backoff).
 *
 * While workflows/ is a release's code this passes trivially for it; every change to workflows/ must keep it passing.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities, type Activities } from '../../activities';
import { RedcapConfig } from '../../src/db/entities';
import type { Activities as Release010Activities } from '../fixtures/releases/0.1.0/workflows/activities';
import type { Activities as Release020Activities } from '../fixtures/releases/0.2.0/workflows/activities';
// Signal and query names are the public contract, the same in every release.
import { cancelSignal, scansArrivedSignal, statusQuery } from '../fixtures/releases/0.1.0/workflows/definitions';
import { resultUnlessTaskFails, workflowTaskFailures, workflowTaskWorkers } from '../support/determinism';
import { FakeRedcap } from '../support/fake-redcap';
import { addScan, seedSession } from '../support/lab';
import { timeSkippingMonitors, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';
import { createReleaseWorker, type ReleaseWorker, releaseStarters, runningReleases } from '../support/releases';

/**
 * Compile-time: today's activities still accept every call a running 0.1.0 or 0.2.0 workflow makes (same names,
 * arguments, and results with what it reads). Renaming or changing one breaks the running monitors; tsc names it.
 */
function todayAcceptsReleases(today: Activities): Release010Activities & Release020Activities {
  return today;
}

jest.setTimeout(300_000);

const { EventType } = proto.api.enums.v1;
const TOKEN = 'D0D0CAFED0D0CAFED0D0CAFED0D0CAFE';
let env: TestWorkflowEnvironment;
let lab: MonitorHarness;
let redcap: FakeRedcap;
let oldWorker: { worker: ReleaseWorker; running: Promise<void> } | undefined;
const redcapRows: Array<Record<string, string>> = [];

// Hooks run in the order they are declared: the old worker stops before the harness and its server do.
afterAll(() => stopOldWorker());
timeSkippingMonitors((suite) => ({ env, lab } = suite), { worker: false });

beforeAll(async () => {
  redcap = await FakeRedcap.start();
  redcap.addProject({ token: TOKEN, records: redcapRows });
  const em = lab.orm.em.fork();
  const config = await em.findOneOrFail(RedcapConfig, { project: 1234 });
  config.url = redcap.url;
  config.token = TOKEN;
  await em.flush();
});

afterAll(() => redcap?.close());

async function stopOldWorker(): Promise<void> {
  if (oldWorker?.worker.getState() === 'RUNNING') oldWorker.worker.shutdown();
  await oldWorker?.running.catch(() => undefined);
  oldWorker = undefined;
}

const handle = (ids: { workflowId: string; runId?: string }) =>
  env.client.workflow.getHandle(ids.workflowId, ids.runId);
const state = (h: WorkflowHandle) => h.query(statusQuery).then((s) => s.state);
const timersStarted = async (h: WorkflowHandle) =>
  (await h.fetchHistory()).events!.filter((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED).length;

/** Waits until the workflow's pending activity `type` failed (at least `failures` times) and waits for a retry. */
async function retrying(h: WorkflowHandle, type: string, failures = 1): Promise<void> {
  await eventually(async () => {
    const [pending] = (await h.describe()).raw.pendingActivities ?? [];
    return (
      pending?.activityType?.name === type && Boolean(pending.lastFailure?.message) && (pending.attempt ?? 0) > failures
    );
  }, `${h.workflowId}: ${type} to fail and wait for its retry`);
}

test.each(runningReleases().map((version, i) => [version, (i + 1) * 10]))(
  `workflows started on release %s and stopped mid-flight finish on today's workflows/ (sessions from %i)`,
  async (version, base) => {
    const { startReleaseMonitors, startReleaseIntake } = releaseStarters(version);
    lab.smtp.messages.length = 0;
    const intakeRecord = `R${base}`;
    const intakeSession = `SPN01_ZHH_00${base + 6}_01_01`;
    const worker = await createReleaseWorker({
      version,
      connection: env.nativeConnection,
      namespace: lab.config.temporalNamespace,
      taskQueue: lab.config.taskQueue,
      activities: todayAcceptsReleases(createActivities(lab.deps)),
      // No sticky cache: the time-skipping server was seen never to move a workflow task off the sticky queue of a
      // worker that is gone (a real server does after 10 s; test/faults/deploy.test.ts has that). The new worker
      // replays each history in full either way.
      options: { maxCachedWorkflows: 0 },
    });
    oldWorker = { worker, running: worker.run() };
    const oldIdentity = worker.identity;

    const start = async (n: number, site: 'CMH' | 'ZHH', options: { scans?: boolean; checkDelayMs?: number } = {}) => {
      const sessionId = `SPN01_${site}_${String(base + n).padStart(4, '0')}_01_01`;
      await seedSession(lab.orm, sessionId);
      if (options.scans) await addScan(lab.orm, sessionId);
      const target = {
        sessionId,
        studyId: 'SPN01',
        siteId: site,
        downloadScript: site === 'CMH' ? 'download.sh' : null,
      };
      const durations = {
        ...lab.config.durations,
        scanCheckDelayMs: options.checkDelayMs ?? lab.config.durations.scanCheckDelayMs,
      };
      const ids = await startReleaseMonitors(env.client, lab.config.taskQueue, durations, target);
      return {
        sessionId,
        scanImport: handle(ids.scanImport),
        scanDownload: ids.scanDownload ? handle(ids.scanDownload) : undefined,
      };
    };

    // --- on the old release -----------------------------------------------------------------------------------
    const noScans = await start(1, 'CMH'); // waits out both monitors: two emails
    const scansLater = await start(2, 'CMH'); // scans registered after the deploy
    const checkedEarly = await start(3, 'ZHH'); // a scansArrived without scans before the deploy
    lab.failJob('post_download', `SPN01_CMH_00${base + 4}_01_01`, 'sbatch: error: Batch job submission failed');
    const postDownload = await start(4, 'CMH', { scans: true }); // the post-download job failing at the deploy
    const cancelled = await start(5, 'CMH'); // cancelled after the deploy
    // Its email composed by the old code and refused by the SMTP server until after the deploy (real seconds).
    lab.smtp.rejectNext(1_000);
    const midEmail = await start(7, 'ZHH', { checkDelayMs: 1_000 });
    redcapRows.push({
      record_id: intakeRecord,
      session_id: intakeSession,
      scan_date: '2026-11-20',
      comments: 'deploy',
      mri_scan_log_complete: '2',
    });
    redcap.failNext(1_000, 503);
    const configId = (await lab.orm.em.fork().findOneOrFail(RedcapConfig, { project: 1234 })).id;
    const intake = handle(
      await startReleaseIntake(
        env.client,
        lab.config.taskQueue,
        { configId, record: intakeRecord },
        { redcapUrl: redcap.url, project: 1234, instrument: 'mri_scan_log' },
      ),
    );

    for (const m of [noScans, scansLater, checkedEarly, cancelled]) {
      await eventually(async () => (await state(m.scanImport)) === 'waiting', `${m.scanImport.workflowId} to wait`);
    }
    for (const m of [noScans, scansLater, cancelled]) await retrying(m.scanDownload!, 'downloadScans');
    await checkedEarly.scanImport.signal(scansArrivedSignal);
    await eventually(
      async () =>
        (await timersStarted(checkedEarly.scanImport)) === 2 && (await state(checkedEarly.scanImport)) === 'waiting',
      'the early check to find no scans and wait again',
    );
    expect(await postDownload.scanImport.result()).toEqual({ outcome: 'scans-present' });
    await retrying(postDownload.scanDownload!, 'runPostDownload');
    await retrying(intake, 'fetchRedcapRecord', 2);
    await retrying(midEmail.scanImport, 'emailAdmins');

    // --- the deploy: the old worker stops, one on today's workflows/ starts -------------------------------------
    worker.shutdown();
    await oldWorker.running;
    expect(lab.smtp.messages).toHaveLength(0);
    lab.smtp.rejectNext(0);
    await lab.startWorker();
    try {
      await addScan(lab.orm, scansLater.sessionId);
      await scansLater.scanImport.signal(scansArrivedSignal);
      await scansLater.scanDownload!.signal(scansArrivedSignal);
      lab.failJob('post_download', postDownload.sessionId, undefined);
      await cancelled.scanImport.signal(cancelSignal, { reason: 'withdrawn after the deploy' });
      await cancelled.scanDownload!.signal(cancelSignal, { reason: 'withdrawn after the deploy' });
      redcap.heal();

      // --- every workflow finishes on the new code ----------------------------------------------------------------
      const midFlight: Array<[string, WorkflowHandle, unknown]> = [
        ['no scans: import', noScans.scanImport, { outcome: 'email-sent' }],
        ['no scans: download', noScans.scanDownload!, { outcome: 'gave-up', attempts: expect.any(Number) }],
        ['scans later: import', scansLater.scanImport, { outcome: 'scans-present' }],
        ['scans later: download', scansLater.scanDownload!, { outcome: 'downloaded', attempts: expect.any(Number) }],
        ['checked early: import', checkedEarly.scanImport, { outcome: 'email-sent' }],
        ['post-download: download', postDownload.scanDownload!, { outcome: 'downloaded', attempts: 1 }],
        [
          'cancelled: import',
          cancelled.scanImport,
          { outcome: 'cancelled', cancelReason: 'withdrawn after the deploy' },
        ],
        [
          'cancelled: download',
          cancelled.scanDownload!,
          { outcome: 'cancelled', attempts: 0, cancelReason: 'withdrawn after the deploy' },
        ],
        ['intake', intake, expect.objectContaining({ sessionId: intakeSession, sessionCreated: true })],
        ['mid-email: import', midEmail.scanImport, { outcome: 'email-sent' }],
      ];
      // One at a time: the time-skipping server's lock is not made for concurrent waits (each wait unlocks it).
      const results: unknown[] = [];
      for (const [, h] of midFlight) results.push(await resultUnlessTaskFails(h));
      expect(Object.fromEntries(midFlight.map(([name], i) => [name, results[i]]))).toEqual(
        Object.fromEntries(midFlight.map(([name, , expected]) => [name, expected])),
      );
      // The intake (finished by the new code) started its session's monitor, on the new code.
      const intakeMonitor = handle(
        (results[8] as { monitors: { scanImport: { workflowId: string } } }).monitors.scanImport,
      );
      expect(await resultUnlessTaskFails(intakeMonitor)).toEqual({ outcome: 'email-sent' });

      const downloadAttempts = (results[1] as { attempts: number }).attempts;
      expect(downloadAttempts).toBe(lab.jobRuns('download', noScans.sessionId));
      expect(downloadAttempts).toBeGreaterThan(2);
      expect(lab.jobRuns('post_download', scansLater.sessionId)).toBe(1);
      expect(lab.jobRuns('post_download', postDownload.sessionId)).toBe(2);
      expect(lab.smtp.messages.map((m) => m.subject).sort()).toEqual(
        [
          `[SPN01] No scan data received for ${noScans.sessionId}`,
          `[SPN01] Scan download gave up for ${noScans.sessionId}`,
          `[SPN01] No scan data received for ${checkedEarly.sessionId}`,
          `[SPN01] No scan data received for ${intakeSession}`,
          `[SPN01] No scan data received for ${midEmail.sessionId}`,
        ].sort(),
      );

      // No workflow task failed anywhere; the mid-flight ones ran on the old worker, then on the new one.
      const histories = [
        ...midFlight,
        ['intake monitor', intakeMonitor] as const,
        ['post-download: import', postDownload.scanImport] as const,
      ];
      for (const [name, h] of histories) {
        const history = await h.fetchHistory();
        expect([name, workflowTaskFailures(history)]).toEqual([name, []]);
        const workers = workflowTaskWorkers(history);
        if (name === 'intake monitor')
          expect([name, workers]).toEqual([name, [expect.not.stringContaining(oldIdentity)]]);
        else if (name === 'post-download: import') expect([name, workers]).toEqual([name, [oldIdentity]]);
        else expect([name, workers]).toEqual([name, [oldIdentity, expect.not.stringContaining(oldIdentity)]]);
      }
    } finally {
      await lab.stopWorker();
    }
  },
);
