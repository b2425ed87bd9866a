/**
 * RedcapIntakeWorkflow: what a REDCap Data Entry Trigger sets in motion. Reads the record back from REDCap
 * (retried with backoff while REDCap is down, for up to a day by default), files it against its session, and starts
 * the session's monitors. A failure that retrying cannot fix (bad session id, unknown study, REDCap refusing the
 * token...) ends the workflow failed with that message, after one email to the admins.
 * Deterministic: all I/O is in the activities.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  log,
  proxyActivities,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { Activities } from '../activities';
import type { FetchedRecord, FiledRecord } from '../activities/intake';
import {
  SessionIdAttribute,
  SiteIdAttribute,
  StudyIdAttribute,
  type IntakeTrigger,
  type RedcapIntakeInput,
  type RedcapIntakeResult,
} from '../surface';

const { fileRedcapRecord, startMonitors } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

const { emailAdmins } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '1 hour',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

export async function RedcapIntakeWorkflow(input: RedcapIntakeInput): Promise<RedcapIntakeResult> {
  const trigger: IntakeTrigger = { configId: input.configId, record: input.record, eventName: input.eventName ?? null };
  const fetchTimeout = input.fetchTimeout ?? '1 day';
  const { fetchRedcapRecord } = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '10 seconds',
    scheduleToCloseTimeout: fetchTimeout,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 minutes' },
  });

  try {
    const fetched: FetchedRecord = await fetchRedcapRecord(trigger);
    const filed: FiledRecord = await fileRedcapRecord(trigger, fetched);
    upsertSearchAttributes([
      { key: SessionIdAttribute, value: filed.sessionId },
      { key: StudyIdAttribute, value: filed.studyId },
      { key: SiteIdAttribute, value: filed.siteId },
    ]);
    upsertMemo({ sessionId: filed.sessionId, redcapRecordId: filed.redcapRecordId });
    const { redcapRecordId, sessionCreated, ...target } = filed;
    const monitors = await startMonitors(target);
    return { sessionId: filed.sessionId, redcapRecordId, sessionCreated, monitors };
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const { message, type } = describeFailure(err, fetchTimeout);
    await notifyAdmins(trigger, message, type);
    throw ApplicationFailure.create({ message, type, nonRetryable: true });
  }
}

/** The message and type the workflow fails with: the activity's own, or what gave up and the last error. */
function describeFailure(err: ActivityFailure, fetchTimeout: Duration): { message: string; type: string } {
  const cause = err.cause;
  const gaveUp = err.retryState === 'TIMEOUT' || err.retryState === 'MAXIMUM_ATTEMPTS_REACHED' || cause instanceof TimeoutFailure;
  if (gaveUp) {
    const last = cause instanceof TimeoutFailure ? cause.cause?.message : cause?.message;
    const what =
      err.activityType === 'fetchRedcapRecord'
        ? `Gave up reading the REDCap record after ${String(fetchTimeout)}`
        : `Gave up on ${err.activityType} after retrying`;
    return { message: last ? `${what}; last error: ${last}` : what, type: 'IntakeTimedOut' };
  }
  if (cause instanceof ApplicationFailure) return { message: cause.message, type: cause.type ?? 'IntakeFailed' };
  return { message: cause?.message ?? err.message, type: 'IntakeFailed' };
}

/** One email per failed run (text: src/mail/templates.ts); a failure to email is logged and does not hide the intake's own failure. */
async function notifyAdmins(trigger: IntakeTrigger, message: string, type: string): Promise<void> {
  const { workflowId, runId } = workflowInfo();
  try {
    await emailAdmins({
      key: `${workflowId}:${runId}:intake-failed`,
      intakeFailure: { ...trigger, message, type, workflowId, runId },
    });
  } catch (err) {
    log.warn('could not email the admins about a failed intake', { workflowId, error: (err as Error).message });
  }
}
