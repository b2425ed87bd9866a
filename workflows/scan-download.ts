/**
 * ScanDownloadWorkflow: until the session has scans or the end time passes, submit the download job and
 * let Temporal retry it with backoff (DOWNLOAD_RETRY_INITIAL doubling up to DOWNLOAD_RETRY_MAX): one
 * activity whose schedule-to-close timeout is the time left, no hand-written loop of attempts. Then the
 * post-download job (if the site has one) → `downloaded`; past the end time → one email → `gave-up`.
 * The job activities run on the jobs task queue (surface jobsTaskQueue), with slots of their own.
 *
 * `scansArrived` asks the attempt to stop: an attempt waiting for its next try stops at once, a running job
 * finishes first (activities/monitors.ts), and then the monitor checks again. `cancel` → `cancelled`: the
 * monitor ends at once and its running job is stopped. (Both since the patch JOB_AWARE_SIGNALS.) A cancel
 * recorded on the session, found by an attempt, ends it `cancelled` too.
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
  workflowInfo,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  jobsTaskQueue,
  MONITORING_CANCELLED,
  permanentErrorTypes,
  scansArrivedSignal,
  type CancelRequest,
  type ScanDownloadInput,
  type ScanDownloadOutcome,
  type ScanDownloadResult,
} from '../surface';
import { monitorControls } from './monitor-controls';

/** Longest a single attempt (one job submission) may run; a longer download belongs in a batch queue (sbatch). */
const ATTEMPT_TIMEOUT_MS = 60 * 60 * 1000;

/**
 * Patch: signals that know about a running job. `scansArrived` waits for the attempt it asks to stop to end (an
 * attempt waiting for its next try ends at once; a running job first finishes), then checks again at once.
 * `cancel` ends the monitor at once without cancelling the attempt (the attempt then finds its monitor gone and
 * stops its job). Monitors started before the patch go on at once after scansArrived (their next attempt
 * waits for the job, after the backoff) and cancel the attempt on `cancel`.
 */
export const JOB_AWARE_SIGNALS = 'scan-download-job-aware-signals';

/** The gave-up email: the database or SMTP server being down is retried for as long as it takes. */
const retry: RetryPolicy = {
  initialInterval: '10 seconds',
  backoffCoefficient: 2,
  maximumInterval: '10 minutes',
  nonRetryableErrorTypes: permanentErrorTypes,
};
const { composeMonitorEmail } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute', retry });
/** The email heartbeats while it is sent: a worker that dies mid-send is noticed in seconds. */
const { emailAdmins } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '10 seconds',
  retry,
});

/** The cancel an activity found recorded on the session (surface MONITORING_CANCELLED), when that is why it failed. */
function cancelledOnSession(err: unknown): CancelRequest | undefined {
  if (
    !(err instanceof ActivityFailure) ||
    !(err.cause instanceof ApplicationFailure) ||
    err.cause.type !== MONITORING_CANCELLED
  )
    return undefined;
  return (err.cause.details?.[0] as CancelRequest | undefined) ?? {};
}

/** The attempt number a download activity put in the details of its failure, if any. */
function attemptOf(err: ActivityFailure): number {
  const details = err.cause instanceof ApplicationFailure ? err.cause.details : undefined;
  const attempt = (details?.[0] as { attempt?: unknown } | undefined)?.attempt;
  return typeof attempt === 'number' ? attempt : 0;
}

export async function ScanDownloadWorkflow(input: ScanDownloadInput): Promise<ScanDownloadResult> {
  const jobAware = patched(JOB_AWARE_SIGNALS);
  const startedAt = Date.now();
  const endMs = input.endTime === undefined ? startedAt + input.downloadWindowMs : Date.parse(input.endTime);
  if (Number.isNaN(endMs)) {
    throw ApplicationFailure.nonRetryable(
      `endTime "${input.endTime}" is not an ISO time, e.g. 2026-01-31T17:00:00Z`,
      'InvalidInput',
    );
  }
  const endTime = new Date(endMs).toISOString();
  let attempts = 0;
  let checkAgain = false;
  let scope: CancellationScope | undefined;
  const controls = monitorControls<ScanDownloadOutcome>({ state: 'downloading', endTime, attempts }, () => {
    if (!jobAware) scope?.cancel();
  });
  const { status, cancelled } = controls;
  setHandler(scansArrivedSignal, () => {
    checkAgain = true;
    if (status.state === 'downloading') scope?.cancel();
  });
  const finish = (outcome: ScanDownloadOutcome): ScanDownloadResult => ({ ...controls.finish(outcome), attempts });

  /** The job activities: on the jobs task queue, with slots of their own. */
  const jobs = { taskQueue: jobsTaskQueue(workflowInfo().taskQueue), heartbeatTimeout: '1 minute' } as const;
  /** The post-download job: a job that fails 10 times in this run fails the workflow with its stderr (the activity counts). */
  const { runPostDownload } = proxyActivities<Activities>({
    ...jobs,
    startToCloseTimeout: '1 hour',
    retry: {
      initialInterval: '1 minute',
      backoffCoefficient: 2,
      maximumInterval: '1 hour',
      nonRetryableErrorTypes: permanentErrorTypes,
    },
  });

  /** Runs `fn` in a scope the signals can cancel; undefined when a signal ended it. */
  async function cancellable<T>(fn: () => Promise<T>): Promise<T | undefined> {
    scope = new CancellationScope();
    try {
      const running = scope.run(fn);
      if (!jobAware) return await running;
      return await Promise.race([running, condition(() => cancelled() !== undefined).then(() => undefined)]);
    } catch (err) {
      if (isCancellation(err) && (cancelled() || checkAgain) && !CancellationScope.current().consideredCancelled)
        return undefined;
      throw err;
    } finally {
      scope = undefined;
    }
  }

  let downloaded = false;
  while (!downloaded) {
    if (cancelled()) return finish('cancelled');
    const remaining = endMs - Date.now();
    if (remaining <= 0) break;
    checkAgain = false;
    const { downloadScans } = proxyActivities<Activities>({
      ...jobs,
      ...(jobAware ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
      scheduleToCloseTimeout: remaining,
      startToCloseTimeout: Math.min(remaining, ATTEMPT_TIMEOUT_MS),
      retry: {
        initialInterval: input.retryInitialMs,
        backoffCoefficient: 2,
        maximumInterval: input.retryMaxMs,
        nonRetryableErrorTypes: permanentErrorTypes,
      },
    });
    try {
      const result = await cancellable(() => downloadScans({ sessionId: input.sessionId }));
      if (result) {
        attempts += result.attempt;
        status.attempts = attempts;
        downloaded = true;
      }
      // undefined: a signal cancelled the attempt; loop to end (cancel) or check again (scansArrived).
    } catch (err) {
      const onSession = cancelledOnSession(err);
      if (onSession) {
        controls.cancel(onSession);
        return finish('cancelled');
      }
      if (!(err instanceof ActivityFailure) || err.retryState === 'NON_RETRYABLE_FAILURE' || isCancellation(err))
        throw err;
      attempts += attemptOf(err);
      status.attempts = attempts;
      // Retries stopped because the next one would pass the end time (or the attempt ran into it): give up.
      if (err.retryState === 'TIMEOUT') break;
      // The attempt scansArrived asked to stop ended first (its job done, no scans yet): check again, as after a stop.
      if (err.retryState === 'CANCEL_REQUESTED' && checkAgain) continue;
      throw err;
    }
  }
  if (downloaded) {
    status.state = 'post-download';
    try {
      const done = await cancellable(() => runPostDownload({ sessionId: input.sessionId }));
      if (done === undefined && cancelled()) return finish('cancelled');
    } catch (err) {
      const onSession = cancelledOnSession(err);
      if (!onSession) throw err;
      controls.cancel(onSession);
      return finish('cancelled');
    }
    return finish('downloaded');
  }

  status.state = 'emailing';
  const { workflowId, runId } = workflowInfo();
  const email = await composeMonitorEmail({
    kind: 'download-gave-up',
    key: `${workflowId}:${runId}:download-gave-up`,
    sessionId: input.sessionId,
    windowMs: endMs - startedAt,
    endTime,
    attempts,
  });
  await emailAdmins(email);
  return finish('gave-up');
}
