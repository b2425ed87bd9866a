/**
 * ScanDownloadWorkflow's wait for XNAT (docs/xnat.md "Downloads wait for XNAT"): where the session's study site has an
 * XNAT project, no download job is submitted until XNAT has archived the session. A first look, one attempt; while
 * XNAT has not archived it, one activity retried on the download backoff until the end time, as the download attempts
 * are, and the status says `waiting-for-xnat` (never for a session XNAT need not be asked about). `scansArrived`
 * checks again now, `cancel` ends it.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  sleep,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { WAITING_FOR_XNAT, type CancelRequest, type MonitorStatus, type ScanDownloadInput } from '../surface';
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
  const backoff = { initialMs: input.retryInitialMs, maxMs: input.retryMaxMs };
  let waiting = false;
  for (;;) {
    if (run.cancelled()) return 'cancelled';
    const remaining = endMs - Date.now();
    if (remaining <= 0) return 'end-time-passed';
    run.checkAgain = false;
    const { waitForXnatArchive } = proxyActivities<Activities>(
      waiting ? xnatWait(remaining, backoff) : { ...xnatWait(remaining, backoff), retry: { maximumAttempts: 1 } },
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
      if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
      // The end time passed: between checks (TIMEOUT), or during one, or while no worker or server ran (a
      // TimeoutFailure, NON_RETRYABLE_FAILURE on a real server). Give up as the download does.
      if (err.retryState === 'TIMEOUT' || err.cause instanceof TimeoutFailure) return 'end-time-passed';
      if (err.retryState === 'NON_RETRYABLE_FAILURE') throw err;
      if (!waiting && err.retryState === 'MAXIMUM_ATTEMPTS_REACHED') {
        // The first look failed: from now on, checks on the backoff. Not archived yet: its first step first.
        waiting = true;
        if (isWaitingForXnat(err)) {
          run.status.state = 'waiting-for-xnat';
          await run.cancellable(() => sleep(Math.min(backoff.initialMs, Math.max(endMs - Date.now(), 1))));
        }
        continue;
      }
      throw err;
    }
  }
}

const isWaitingForXnat = (err: unknown): boolean =>
  err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === WAITING_FOR_XNAT;
