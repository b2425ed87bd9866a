/**
 * ScanDownloadWorkflow: until the session has scans or the end time passes, submit the download job and
 * let Temporal retry it with backoff (DOWNLOAD_RETRY_INITIAL doubling up to DOWNLOAD_RETRY_MAX): one
 * activity whose schedule-to-close timeout is the time left, no hand-written loop of attempts. Then the
 * post-download job (if the site has one) → `downloaded`; past the end time → one email → `gave-up`.
 * `cancel` cancels the running attempt → `cancelled`; `scansArrived` cancels it and checks again now.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { permanentErrorTypes, scansArrivedSignal, type ScanDownloadInput, type ScanDownloadOutcome, type ScanDownloadResult } from '../surface';
import { monitorControls } from './monitor-controls';

/** Longest a single attempt (one job submission) may run; a longer download belongs in a batch queue (sbatch). */
const ATTEMPT_TIMEOUT_MS = 60 * 60 * 1000;

/** The post-download job: a failing job is tried 10 times, then the workflow fails with its stderr. */
const { runPostDownload } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 minute', backoffCoefficient: 2, maximumInterval: '1 hour', maximumAttempts: 10, nonRetryableErrorTypes: permanentErrorTypes },
});

/** The gave-up email: the database or SMTP server being down is retried for as long as it takes. */
const { composeMonitorEmail, emailAdmins } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', nonRetryableErrorTypes: permanentErrorTypes },
});

/** The attempt number a download activity put in the details of its failure, if any. */
function attemptOf(err: ActivityFailure): number {
  const details = err.cause instanceof ApplicationFailure ? err.cause.details : undefined;
  const attempt = (details?.[0] as { attempt?: unknown } | undefined)?.attempt;
  return typeof attempt === 'number' ? attempt : 0;
}

export async function ScanDownloadWorkflow(input: ScanDownloadInput): Promise<ScanDownloadResult> {
  const startedAt = Date.now();
  const endMs = input.endTime === undefined ? startedAt + input.downloadWindowMs : Date.parse(input.endTime);
  if (Number.isNaN(endMs)) {
    throw ApplicationFailure.nonRetryable(`endTime "${input.endTime}" is not an ISO time, e.g. 2026-01-31T17:00:00Z`, 'InvalidInput');
  }
  const endTime = new Date(endMs).toISOString();
  let attempts = 0;
  let checkAgain = false;
  let scope: CancellationScope | undefined;
  const controls = monitorControls<ScanDownloadOutcome>({ state: 'downloading', endTime, attempts }, () => scope?.cancel());
  const { status, cancelled } = controls;
  setHandler(scansArrivedSignal, () => {
    checkAgain = true;
    if (status.state === 'downloading') scope?.cancel();
  });
  const finish = (outcome: ScanDownloadOutcome): ScanDownloadResult => ({ ...controls.finish(outcome), attempts });

  /** Runs `fn` in a scope the signals can cancel; undefined when a signal cancelled it. */
  async function cancellable<T>(fn: () => Promise<T>): Promise<T | undefined> {
    scope = new CancellationScope();
    try {
      return await scope.run(fn);
    } catch (err) {
      if (isCancellation(err) && (cancelled() || checkAgain) && !CancellationScope.current().consideredCancelled) return undefined;
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
      scheduleToCloseTimeout: remaining,
      startToCloseTimeout: Math.min(remaining, ATTEMPT_TIMEOUT_MS),
      heartbeatTimeout: '1 minute',
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
      if (!(err instanceof ActivityFailure) || err.retryState === 'NON_RETRYABLE_FAILURE' || isCancellation(err)) throw err;
      attempts += attemptOf(err);
      status.attempts = attempts;
      // Retries stopped because the next one would pass the end time (or the attempt ran into it): give up.
      if (err.retryState === 'TIMEOUT') break;
      throw err;
    }
  }
  if (downloaded) {
    status.state = 'post-download';
    const done = await cancellable(() => runPostDownload({ sessionId: input.sessionId }));
    if (done === undefined && cancelled()) return finish('cancelled');
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
