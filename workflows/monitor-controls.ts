/**
 * What both monitors share: the `status` query, the `cancel` signal, and how a monitor ends (its status and
 * result say the outcome, and the cancel reason when it was cancelled). Handlers only; no commands.
 */
import { ActivityFailure, ApplicationFailure, setHandler } from '@temporalio/workflow';
import { cancelSignal, MONITORING_CANCELLED, statusQuery, type CancelRequest, type MonitorStatus } from '../surface';

export interface MonitorControls<Outcome extends string> {
  /** What the monitor answers to `status`; the workflow updates it as it goes. */
  readonly status: MonitorStatus;
  /** The cancel request, once one came (the first one counts). */
  cancelled(): CancelRequest | undefined;
  /** Records a cancel as the `cancel` signal does: one the monitor found recorded on the session. */
  cancel(request?: CancelRequest): void;
  /**
   * True (and the cancel recorded) when an activity failed because it found the session's monitoring cancelled
   * (surface MONITORING_CANCELLED): the monitor ends `cancelled`.
   */
  endedByCancelOnSession(err: unknown): boolean;
  /** Marks the monitor done and returns its result: `{outcome}`, with `cancelReason` when cancelled with one. */
  finish(outcome: Outcome): { outcome: Outcome; cancelReason?: string };
}

/** Sets up the query and the cancel signal; `onCancel` runs after a cancel is recorded (e.g. to cancel a running activity). */
export function monitorControls<Outcome extends MonitorStatus['outcome'] & string>(
  status: MonitorStatus,
  onCancel: () => void = () => undefined,
): MonitorControls<Outcome> {
  let cancelled: CancelRequest | undefined;
  const cancel = (request?: CancelRequest) => {
    cancelled ??= { reason: request?.reason };
    onCancel();
  };
  setHandler(statusQuery, () => status);
  setHandler(cancelSignal, cancel);
  return {
    status,
    cancelled: () => cancelled,
    cancel,
    endedByCancelOnSession(err) {
      if (
        !(err instanceof ActivityFailure) ||
        !(err.cause instanceof ApplicationFailure) ||
        err.cause.type !== MONITORING_CANCELLED
      )
        return false;
      cancel((err.cause.details?.[0] as CancelRequest | undefined) ?? {});
      return true;
    },
    finish(outcome) {
      status.state = 'done';
      status.outcome = outcome;
      delete status.nextCheckAt;
      const cancelReason = outcome === 'cancelled' ? cancelled?.reason : undefined;
      if (cancelReason) status.cancelReason = cancelReason;
      return cancelReason ? { outcome, cancelReason } : { outcome };
    },
  };
}
