/**
 * ScanDownloadWorkflow's wait for XNAT (docs/xnat.md "Downloads wait for XNAT"): where the session's study site has an
 * XNAT project, no download job is submitted until XNAT has archived the session. One activity, retried on the
 * download backoff until the end time, as the download attempts are; the status says `waiting-for-xnat`.
 * `scansArrived` checks again now, `cancel` ends it.
 */
import { ActivityFailure, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CancelRequest, MonitorStatus, ScanDownloadInput } from '../surface';
import { xnatWait } from './activity-options';

/** What the wait uses of the download monitor's run (workflows/scan-download.ts). */
export interface XnatWaitRun {
  readonly status: MonitorStatus;
  cancelled(): CancelRequest | undefined;
  cancel(request?: CancelRequest): void;
  /** Set by `scansArrived`: check again now. */
  checkAgain: boolean;
  /** Runs `fn` in a scope the signals can cancel; undefined when a signal ended it. */
  cancellable<T>(fn: () => Promise<T>): Promise<T | undefined>;
}

/** Waits until the download may start (XNAT archived the session, or it has no XNAT project, or the scans are here). */
export async function xnatWaitStep(
  run: XnatWaitRun,
  input: ScanDownloadInput,
  endMs: number,
): Promise<'ready' | 'end-time-passed' | 'cancelled'> {
  for (;;) {
    if (run.cancelled()) return 'cancelled';
    const remaining = endMs - Date.now();
    if (remaining <= 0) return 'end-time-passed';
    run.checkAgain = false;
    run.status.state = 'waiting-for-xnat';
    const { waitForXnatArchive } = proxyActivities<Activities>(
      xnatWait(remaining, { initialMs: input.retryInitialMs, maxMs: input.retryMaxMs }),
    );
    try {
      const found = await run.cancellable(() => waitForXnatArchive({ sessionId: input.sessionId }));
      if (found === undefined) continue; // a signal ended the wait: cancel ends above, scansArrived checks again
      if ('cancelled' in found) {
        run.cancel(found.cancelled);
        return 'cancelled';
      }
      run.status.state = 'downloading';
      return 'ready';
    } catch (err) {
      if (!(err instanceof ActivityFailure) || err.retryState === 'NON_RETRYABLE_FAILURE' || isCancellation(err))
        throw err;
      // The next check would pass the end time: give up as the download does.
      if (err.retryState === 'TIMEOUT') return 'end-time-passed';
      throw err;
    }
  }
}
