/**
 * ScanDownloadWorkflow: submits the download job until the session has scans or the end time passes (one activity
 * that Temporal retries with backoff), then runs the post-download job; past the end time it emails the admins.
 * `scansArrived` lets a running job finish and then checks again; `cancel` ends it at once (docs/temporal.md).
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  jobsTaskQueue,
  scansArrivedSignal,
  type ScanDownloadInput,
  type ScanDownloadOutcome,
  type ScanDownloadResult,
} from '../surface';
import { database, downloadJob, email, postDownloadJob } from './activity-options';
import { monitorControls, type MonitorControls } from './monitor-controls';
import { PATCHES } from './patches';

const { composeMonitorEmail } = proxyActivities<Activities>(database);
const { emailAdmins, sendMonitorEmail } = proxyActivities<Activities>(email);

export async function ScanDownloadWorkflow(input: ScanDownloadInput): Promise<ScanDownloadResult> {
  const jobAware = patched(PATCHES.scanDownloadJobAwareSignals.id);
  const startedAt = Date.now();
  const endMs = input.endTime === undefined ? startedAt + input.downloadWindowMs : Date.parse(input.endTime);
  if (Number.isNaN(endMs)) {
    throw ApplicationFailure.nonRetryable(
      `endTime "${input.endTime}" is not an ISO time, e.g. 2026-01-31T17:00:00Z`,
      'InvalidInput',
    );
  }
  const endTime = new Date(endMs).toISOString();
  const run = downloadRun(endTime, jobAware);
  const downloaded = await downloadStep(run, input, endMs);
  if (downloaded === 'cancelled') return run.finish('cancelled');
  if (downloaded === 'scans-there') return run.finish(await postDownloadStep(run, input));
  return run.finish(await gaveUpStep(run, input, { windowMs: endMs - startedAt, endTime }));
}

/** What the steps share: the monitor's controls, its attempt count, and the scope the signals cancel. */
interface DownloadRun extends Omit<MonitorControls<ScanDownloadOutcome>, 'finish'> {
  readonly jobAware: boolean;
  /** Download attempts made so far, over all rounds. */
  attempts: number;
  /** Set by `scansArrived`: check again now. */
  checkAgain: boolean;
  /** Runs `fn` in a scope the signals can cancel; undefined when a signal ended it. */
  cancellable<T>(fn: () => Promise<T>): Promise<T | undefined>;
  finish(outcome: ScanDownloadOutcome): ScanDownloadResult;
}

/**
 * Sets up the signals. Before the job-aware patch, `cancel` cancels the running attempt (and its job); since it,
 * the monitor ends at once and the attempt, finding its monitor gone, stops its job.
 */
function downloadRun(endTime: string, jobAware: boolean): DownloadRun {
  let scope: CancellationScope | undefined;
  const controls = monitorControls<ScanDownloadOutcome>({ state: 'downloading', endTime, attempts: 0 }, () => {
    if (!jobAware) scope?.cancel();
  });
  const run: DownloadRun = {
    ...controls,
    jobAware,
    attempts: 0,
    checkAgain: false,
    async cancellable(fn) {
      scope = new CancellationScope();
      try {
        const running = scope.run(fn);
        if (!jobAware) return await running;
        return await Promise.race([running, condition(() => controls.cancelled() !== undefined).then(() => undefined)]);
      } catch (err) {
        if (
          isCancellation(err) &&
          (controls.cancelled() || run.checkAgain) &&
          !CancellationScope.current().consideredCancelled
        )
          return undefined;
        throw err;
      } finally {
        scope = undefined;
      }
    },
    finish: (outcome) => ({ ...controls.finish(outcome), attempts: run.attempts }),
  };
  setHandler(scansArrivedSignal, () => {
    run.checkAgain = true;
    if (controls.status.state === 'downloading') scope?.cancel();
  });
  return run;
}

/** Download attempts until the session has scans (and no download job runs), the end time passes, or a cancel. */
async function downloadStep(
  run: DownloadRun,
  input: ScanDownloadInput,
  endMs: number,
): Promise<'scans-there' | 'end-time-passed' | 'cancelled'> {
  const jobsQueue = jobsTaskQueue(workflowInfo().taskQueue);
  for (;;) {
    if (run.cancelled()) return 'cancelled';
    const remaining = endMs - Date.now();
    if (remaining <= 0) return 'end-time-passed';
    run.checkAgain = false;
    const { downloadScans } = proxyActivities<Activities>({
      ...downloadJob(jobsQueue, remaining, { initialMs: input.retryInitialMs, maxMs: input.retryMaxMs }),
      ...(run.jobAware ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
    });
    try {
      const result = await run.cancellable(() => downloadScans({ sessionId: input.sessionId }));
      if (result) {
        countAttempts(run, result.attempt);
        return 'scans-there';
      }
      // undefined: a signal cancelled the attempt; loop to end (cancel) or check again (scansArrived).
    } catch (err) {
      if (run.endedByCancelOnSession(err)) return 'cancelled';
      if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
      if (endTimePassed(err)) {
        countAttempts(run, attemptOf(err));
        return 'end-time-passed';
      }
      if (err.retryState === 'NON_RETRYABLE_FAILURE') throw err;
      countAttempts(run, attemptOf(err));
      // The attempt scansArrived asked to stop ended first (its job done, no scans yet): check again.
      if (err.retryState === 'CANCEL_REQUESTED' && run.checkAgain) continue;
      throw err;
    }
  }
}

/** The site's post-download job (the activity does nothing when it has none). */
async function postDownloadStep(run: DownloadRun, input: ScanDownloadInput): Promise<ScanDownloadOutcome> {
  run.status.state = 'post-download';
  const { runPostDownload } = proxyActivities<Activities>(postDownloadJob(jobsTaskQueue(workflowInfo().taskQueue)));
  try {
    const done = await run.cancellable(() => runPostDownload({ sessionId: input.sessionId }));
    if (done === undefined && run.cancelled()) return 'cancelled';
  } catch (err) {
    if (run.endedByCancelOnSession(err)) return 'cancelled';
    throw err;
  }
  return 'downloaded';
}

/**
 * The end time passed without scans: one email to the admins, unless the session's monitoring was cancelled
 * meanwhile (a cancel signal, or one recorded on the session that the email activity finds).
 */
async function gaveUpStep(
  run: DownloadRun,
  input: ScanDownloadInput,
  window: { windowMs: number; endTime: string },
): Promise<ScanDownloadOutcome> {
  run.status.state = 'emailing';
  const { workflowId, runId } = workflowInfo();
  const request = {
    kind: 'download-gave-up',
    key: `${workflowId}:${runId}:download-gave-up`,
    sessionId: input.sessionId,
    ...window,
    attempts: run.attempts,
  } as const;
  if (!patched(PATCHES.monitorEmailComposedWhereSent.id)) {
    await emailAdmins(await composeMonitorEmail(request));
    return 'gave-up';
  }
  if (run.cancelled()) return 'cancelled';
  try {
    await sendMonitorEmail(request);
  } catch (err) {
    if (run.endedByCancelOnSession(err)) return 'cancelled';
    throw err;
  }
  return 'gave-up';
}

function countAttempts(run: DownloadRun, attempts: number): void {
  run.attempts += attempts;
  run.status.attempts = run.attempts;
}

/**
 * Whether the download attempts ended at the end time (the activity's schedule-to-close timeout): Temporal stopped
 * retrying because the next attempt would start after it (retry state TIMEOUT), or the end time passed while an
 * attempt ran or waited for a worker, or while the server was down (a TimeoutFailure whose retry state is
 * NON_RETRYABLE_FAILURE on a real server). Before the timeout patch, the second kind failed the monitor.
 */
function endTimePassed(err: ActivityFailure): boolean {
  if (err.retryState === 'TIMEOUT') return true;
  return err.cause instanceof TimeoutFailure && patched(PATCHES.scanDownloadTimeoutGivesUp.id);
}

/**
 * The attempt number a download activity put in the details of its failure, or in its last heartbeat (a timeout
 * has no details of its own), if any.
 */
function attemptOf(err: ActivityFailure): number {
  const details =
    err.cause instanceof ApplicationFailure
      ? err.cause.details?.[0]
      : err.cause instanceof TimeoutFailure
        ? err.cause.lastHeartbeatDetails // the first argument of the last heartbeat
        : undefined;
  const attempt = (details as { attempt?: unknown } | undefined)?.attempt;
  return typeof attempt === 'number' ? attempt : 0;
}
