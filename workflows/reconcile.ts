/**
 * RedcapReconcileWorkflow: finds what no Data Entry Trigger announced. Asks REDCap which records of a config changed
 * since the last successful run (less a margin for REDCap's unknown clock), reads them a page at a time, and starts
 * the intake a trigger would have started for each completed row that is not filed as it is now. Run by the schedule
 * `redcap-reconcile:<configId>` and by `npm run cli -- reconcile`.
 *
 * Its history is the same few events however many records changed, and holds ids and counts only: the pages are
 * worked through in one activity that heartbeats its progress and goes on from there when retried. REDCap refusing the token, or down for the whole
 * retry, fails the run with REDCap's reason (the schedule goes on). Deterministic: all I/O is in the activities.
 */
import { ActivityFailure, ApplicationFailure, log, patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RedcapReconcileInput, RedcapReconcileResult } from '../surface';
import { failureEmail, reconcilePages, reconcileStep } from './activity-options';
import { PATCHES } from './patches';

const { beginReconcile, endReconcile, finishReconcile } = proxyActivities<Activities>(reconcileStep);
const { reconcileRecords } = proxyActivities<Activities>(reconcilePages);
const { emailAdmins, emailMissedTriggers } = proxyActivities<Activities>(failureEmail);

export async function RedcapReconcileWorkflow(input: RedcapReconcileInput): Promise<RedcapReconcileResult> {
  const { configId } = input;
  try {
    const begun = await beginReconcile({ configId, since: input.since });
    const progress = await reconcileRecords({ configId, progress: begun });
    if (patched(PATCHES.reconcileEmailComposedWhereSent.id)) {
      // The email is composed where it is sent: its text never passes through the history.
      await endReconcile({ configId, progress });
      if (progress.missed.count > 0) await tellAdmins(configId, () => emailMissedTriggers({ configId, progress }));
    } else {
      const email = await finishReconcile({ configId, progress });
      if (email) await tellAdmins(configId, () => emailAdmins(email));
    }
    return progress.totals;
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    // REDCap's reason (or the database's) as the run's failure, in the Web UI; the schedule goes on.
    const cause = err.cause;
    const message = cause?.message ?? err.message;
    const type = cause instanceof ApplicationFailure && cause.type ? cause.type : 'ReconcileFailed';
    log.error('reconciliation failed', { configId, type, error: message });
    throw ApplicationFailure.create({
      message: `Reconciliation of REDCap config ${configId} failed: ${message}`,
      type,
      nonRetryable: true,
    });
  }
}

/** The missed-triggers email: a failure to send it is logged and does not fail the run (its intakes are started). */
async function tellAdmins(configId: number, send: () => Promise<unknown>): Promise<void> {
  try {
    await send();
  } catch (err) {
    log.warn('could not email the admins about missed triggers', { configId, error: (err as Error).message });
  }
}
