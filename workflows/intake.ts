/**
 * RedcapIntakeWorkflow: reads a record back from REDCap, files it against its session and starts the session's
 * monitors (the rules for re-saves, moved records and failures: docs/redcap.md). All I/O is in the activities. Its
 * history holds ids, states, counts and times: what REDCap holds (comment, date, user, the session id as typed) stays
 * in the activity that reads and files it, and in our database (docs/temporal.md, "What the histories hold").
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { Activities } from '../activities';
import type { FiledRecord } from '../activities/intake';
import {
  recordSavedSignal,
  SessionIdAttribute,
  SiteIdAttribute,
  StudyIdAttribute,
  type IntakeTrigger,
  type MonitorTarget,
  type RedcapIntakeInput,
  type RedcapIntakeResult,
  type StartedMonitors,
} from '../surface';
import { email, failureEmail, filing, redcapRead } from './activity-options';
import { PATCHES } from './patches';

const { fileRedcapRecord, startMonitors, cancelMovedSessionMonitors } = proxyActivities<Activities>(filing);
const { emailAdmins } = proxyActivities<Activities>(failureEmail);
const { reportFailedIntake } = proxyActivities<Activities>(email);

export async function RedcapIntakeWorkflow(input: RedcapIntakeInput): Promise<RedcapIntakeResult> {
  const trigger: IntakeTrigger = {
    configId: input.configId,
    record: input.record,
    eventName: input.eventName ?? null,
    instance: input.instance ?? null,
  };
  const fetchTimeout = input.fetchTimeout ?? '1 day';
  const { fetchRedcapRecord, readAndFileRedcapRecord } = proxyActivities<Activities>(redcapRead(fetchTimeout));

  // REDCap saved the record again: what this run read may be stale. The start's own signal comes before the first read.
  let savedAgain = false;
  setHandler(recordSavedSignal, () => {
    savedAgain = true;
  });
  /** The monitors this run started, by session. */
  const started = new Map<string, StartedMonitors>();

  for (let reads = 1; ; reads++) {
    savedAgain = false;
    let filed: FiledRecord;
    try {
      // Read and filed in one activity: its result names the session and the stored record, never what was read.
      filed = patched(PATCHES.intakeReadsAndFilesInOne.id)
        ? await readAndFileRedcapRecord({
            ...trigger,
            read: reads,
            ...(input.redcapVersion ? { redcapVersion: input.redcapVersion } : {}),
          })
        : await fileRedcapRecord(trigger, await fetchRedcapRecord(trigger));
    } catch (err) {
      if (isCancellation(err) && patched(PATCHES.intakeEndsCancelled.id)) throw err;
      if (!(err instanceof ActivityFailure)) throw err;
      // REDCap saved the record again after this read began: the correction may be what was missing.
      if (savedAgain && patched(PATCHES.intakeRereadsResavedRecord.id)) continue;
      const { message, type } = describeFailure(err, fetchTimeout);
      if (patched(PATCHES.intakeReportsFailureFromDatabase.id)) {
        await reportFailure({ ...trigger, read: reads, type, message });
        // A save made while the report waited (SMTP down) may be the correction: read it.
        if (savedAgain) continue;
      } else await notifyAdmins(trigger, message, type, !isCancellation(err));
      throw ApplicationFailure.create({ message, type, nonRetryable: true });
    }

    upsertSearchAttributes([
      { key: SessionIdAttribute, value: filed.sessionId },
      { key: StudyIdAttribute, value: filed.studyId },
      { key: SiteIdAttribute, value: filed.siteId },
    ]);
    upsertMemo({ sessionId: filed.sessionId, redcapRecordId: filed.redcapRecordId });
    const target: MonitorTarget = {
      sessionId: filed.sessionId,
      studyId: filed.studyId,
      siteId: filed.siteId,
      downloadScript: filed.downloadScript,
    };
    // A session's monitors run once: after an earlier intake started them, a re-save starts none.
    if (!(filed.monitorsDue === false && patched(PATCHES.intakeMonitorsRunOnce.id)))
      started.set(filed.sessionId, await startMonitors(target));
    if (filed.movedFrom && patched(PATCHES.intakeCancelsMovedMonitors.id)) {
      await cancelMovedSessionMonitors({ sessionId: filed.movedFrom, movedTo: filed.sessionId });
    }

    if (savedAgain && patched(PATCHES.intakeRereadsResavedRecord.id)) continue;
    return {
      sessionId: filed.sessionId,
      redcapRecordId: filed.redcapRecordId,
      sessionCreated: filed.sessionCreated,
      change: filed.change ?? 'created',
      ...(filed.movedFrom ? { movedFrom: filed.movedFrom } : {}),
      monitors: started.get(filed.sessionId) ?? null,
      reads,
    };
  }
}

/** The message and type the workflow fails with: the activity's own, or what gave up and the last error. */
function describeFailure(err: ActivityFailure, fetchTimeout: Duration): { message: string; type: string } {
  const cause = err.cause;
  const gaveUp =
    err.retryState === 'TIMEOUT' || err.retryState === 'MAXIMUM_ATTEMPTS_REACHED' || cause instanceof TimeoutFailure;
  if (gaveUp) {
    const last = cause instanceof TimeoutFailure ? cause.cause?.message : cause?.message;
    const what =
      err.activityType === 'readAndFileRedcapRecord'
        ? `Gave up reading and filing the REDCap record after ${String(fetchTimeout)}`
        : err.activityType === 'fetchRedcapRecord'
          ? `Gave up reading the REDCap record after ${String(fetchTimeout)}`
          : `Gave up on ${err.activityType} after retrying`;
    return { message: last ? `${what}; last error: ${last}` : what, type: 'IntakeTimedOut' };
  }
  if (cause instanceof ApplicationFailure) return { message: cause.message, type: cause.type ?? 'IntakeFailed' };
  return { message: cause?.message ?? err.message, type: 'IntakeFailed' };
}

/**
 * A failed read of this run, recorded and reported to the admins by the activity (it composes the email from what our
 * database holds, and is retried until it is sent); sent even if the intake is cancelled meanwhile. A failure to
 * report (no admin to email) is logged and does not hide the intake's own failure.
 */
async function reportFailure(failure: Parameters<Activities['reportFailedIntake']>[0]): Promise<void> {
  try {
    await CancellationScope.nonCancellable(() => reportFailedIntake(failure));
  } catch (err) {
    log.warn('could not report a failed intake', {
      workflowId: workflowInfo().workflowId,
      error: (err as Error).message,
    });
  }
}

/**
 * Intakes started before 0.3.0: one email per failed run (text: src/mail/templates.ts), the message in the input; a
 * failure to email is logged and does not hide the intake's own failure. The email is sent even if the intake is cancelled meanwhile (`protect`; false only where a release
 * before it sent the email in the cancelled scope, so that its histories replay).
 */
async function notifyAdmins(trigger: IntakeTrigger, message: string, type: string, protect: boolean): Promise<void> {
  const { workflowId, runId } = workflowInfo();
  const send = () =>
    emailAdmins({
      key: `${workflowId}:${runId}:intake-failed`,
      intakeFailure: { ...trigger, message, type, workflowId, runId },
    });
  try {
    await (protect && patched(PATCHES.intakeEmailNotCancellable.id) ? CancellationScope.nonCancellable(send) : send());
  } catch (err) {
    log.warn('could not email the admins about a failed intake', { workflowId, error: (err as Error).message });
  }
}
