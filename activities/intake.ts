/**
 * Activities of RedcapIntakeWorkflow: read the record from REDCap and file it (in one activity, so that what REDCap
 * holds never passes through the workflow's history), start the monitors, cancel a moved record's, report a failure
 * (the admins' email composed here from what the database holds). docs/redcap.md says what each does for the lab.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { RedcapConfig, Session } from '../src/db/entities';
import { DomainError } from '../src/errors';
import { filingRefused, intakeFailed, recordFiled } from '../src/lab-data/problems';
import { IntakeFailure } from '../src/db/intake-failure';
import { intakeFailedEmail } from '../src/mail/templates';
import { RedcapClient, type RedcapRow } from '../src/redcap/client';
import { intakeProblem, type IntakeProblem } from '../src/redcap/intake-problems';
import { recordName } from '../src/redcap/names';
import { readScanEntry, type ScanEntry } from '../src/redcap/record';
import { exportedFields, rowDigest } from '../src/redcap/reconcile';
import { fileRecord, type Filing, type RecordKey } from '../src/sessions/domain';
import { signalSessionMonitors, startScanMonitors, type SignalReport } from '../src/temporal/monitors';
import {
  cancelSignal,
  type IntakeTrigger,
  type MonitorTarget,
  type RecordChange,
  type StartedMonitors,
} from '../surface';
import type { ActivityDeps } from './deps';
import { whileHeartbeating } from './heartbeat';
import { createMailActivities } from './mail';

/** What readAndFileRedcapRecord is given: the trigger, which read of the run this is, and REDCap's version. */
export interface IntakeRead extends IntakeTrigger {
  /** 1, or more when REDCap saved the record again while the run went on. */
  read: number;
  /** REDCap's version from the trigger's project_url, noted once the record was read (RedcapIntakeInput). */
  redcapVersion?: string;
}

/** What reportFailedIntake is given: ids, and the failure as the history has it (never a value of the record). */
export interface FailedIntake extends IntakeTrigger {
  read: number;
  type: string;
  message: string;
}

/** What fetchRedcapRecord returned to intakes started before 0.3.0 (patch intake-reads-and-files-in-one). */
export interface FetchedRecord extends ScanEntry {
  /** Unique event name; '' in classic projects. */
  eventName: string;
  /** REDCap's event_id, for the link to the data entry page; null when unknown. */
  eventId: number | null;
}

export interface FiledRecord extends MonitorTarget {
  /** Our RedcapRecord id (GET /redcap_redirect/:recordId). */
  redcapRecordId: number;
  sessionCreated: boolean;
  /** Absent in results recorded before records could change (those were always new). */
  change?: RecordChange;
  /** The session the record was moved away from: its running monitors are cancelled. */
  movedFrom?: string;
  /** False when the session's monitors were started before (they run once); absent in older results: start them. */
  monitorsDue?: boolean;
}

const triggerName = (trigger: IntakeTrigger) => recordName(trigger.record, trigger.eventName, trigger.instance);

/** The failure a workflow sees: the summary (ids, field names, REDCap's answer), never the detail. */
function failureOf(problem: IntakeProblem): ApplicationFailure {
  return ApplicationFailure.create({
    message: problem.summary,
    type: problem.type,
    nonRetryable: problem.permanent,
    details: problem.field ? [{ field: problem.field }] : [],
  });
}

/** The intake run this activity works for. */
function intakeRun(): { workflowId: string; runId: string } {
  const run = Context.current().info.workflowExecution;
  if (!run) throw ApplicationFailure.nonRetryable('an intake activity runs for an intake workflow', 'IntakeError');
  return run;
}

function filedRecord(filed: Filing): FiledRecord {
  const { session, studySite, record } = filed;
  return {
    sessionId: session.id,
    studyId: studySite.study.id,
    siteId: studySite.site.id,
    downloadScript: studySite.downloadScript ?? null,
    redcapRecordId: record.id,
    sessionCreated: filed.sessionCreated,
    change: filed.change,
    ...(filed.movedFrom ? { movedFrom: filed.movedFrom } : {}),
    monitorsDue: filed.monitorsDue,
  };
}

/** `redcap`: shared with reconciliation, which keeps the record id fields it reads fresh for the intakes. */
export function createIntakeActivities(deps: ActivityDeps, redcap = new RedcapClient()) {
  const mail = createMailActivities(deps);
  const log = deps.logger.child({ component: 'intake' });

  async function configOf(em: EntityManager, trigger: IntakeTrigger): Promise<RedcapConfig> {
    const config = await em.findOne(RedcapConfig, trigger.configId);
    if (!config) {
      throw ApplicationFailure.nonRetryable(
        `REDCap config ${trigger.configId} no longer exists`,
        'RedcapConfigMissing',
      );
    }
    return config;
  }

  const whereOf = (config: RedcapConfig, trigger: IntakeTrigger) => ({
    configId: config.id,
    project: config.project,
    record: trigger.record,
    eventName: trigger.eventName ?? null,
    instance: trigger.instance ?? null,
  });
  const placeOf = (config: RedcapConfig, trigger: IntakeTrigger) => ({
    ...whereOf(config, trigger),
    sessionField: config.sessionField,
  });

  /**
   * Export Records for the trigger's record (event and instance): the one row, as REDCap sends it, with only the
   * configured fields (and the record id field, which makes REDCap send its event and repeat columns).
   */
  async function exportRow(config: RedcapConfig, trigger: IntakeTrigger): Promise<RedcapRow> {
    const recordIdField = await redcap.recordIdField(config, `record ${triggerName(trigger)}`);
    return redcap.exportRecord(config, trigger.record, exportedFields(config, recordIdField), trigger.eventName, {
      instance: trigger.instance,
      instrument: config.instrument,
    });
  }

  /** REDCap's event_id of the row's event, for the record link; null (and a warning) when it cannot be had. */
  async function eventIdOf(config: RedcapConfig, trigger: IntakeTrigger, eventName: string): Promise<number | null> {
    if (!eventName) return null;
    const where = whereOf(config, trigger);
    try {
      const eventId = (await redcap.exportEvents(config)).get(eventName) ?? null;
      if (eventId === null)
        log.warn(where, `REDCap Export Events has no event_id for ${eventName}; the record link will have no event_id`);
      return eventId;
    } catch (err) {
      log.warn(
        { ...where, reason: (err as Error).message },
        'REDCap Export Events failed; the record link will have no event_id',
      );
      return null;
    }
  }

  /** The stored record's identity: config, record, event (the trigger's, else the row's) and instance. */
  const keyOf = (trigger: IntakeTrigger, eventName: string): RecordKey => ({
    configId: trigger.configId,
    record: trigger.record,
    eventName,
    instance: trigger.instance ?? 0,
  });

  /**
   * Files what was read, in one transaction (src/sessions/domain.ts fileRecord), and logs it (ids only); the lab's
   * problems and states follow (a refusal is a problem of the session the id names, a filing resolves it).
   */
  async function file(
    em: EntityManager,
    trigger: IntakeTrigger,
    key: RecordKey,
    entry: FetchedRecord,
  ): Promise<FiledRecord> {
    let filed: Filing;
    try {
      filed = await fileRecord(em, key, entry);
    } catch (err) {
      if (err instanceof DomainError && err.status < 500) await filingRefused(em, trigger, entry.sessionName, err);
      throw err;
    }
    await recordFiled(em, trigger, [filed.session.id, filed.movedFrom]);
    log.info(
      {
        ...key,
        sessionId: filed.session.id,
        redcapRecordId: filed.record.id,
        created: filed.sessionCreated,
        change: filed.change,
        movedFrom: filed.movedFrom,
      },
      'REDCap record filed',
    );
    return filedRecord(filed);
  }

  /** REDCap's version, from a trigger whose record REDCap has just answered for: written only when it changed. */
  async function noteRedcapVersion(em: EntityManager, config: RedcapConfig, version: string | undefined) {
    if (!version || version === config.detVersion) return;
    await em.nativeUpdate(RedcapConfig, { id: config.id }, { detVersion: version });
    log.info(
      { configId: config.id, version, previous: config.detVersion ?? config.version },
      'REDCap version of the config changed',
    );
  }

  /** A problem no retry fixes, as the workflow will see it, logged (the summary: the detail may quote REDCap). */
  function refused(config: RedcapConfig, trigger: IntakeTrigger, err: unknown): IntakeProblem {
    const problem = intakeProblem(err, placeOf(config, trigger));
    log.warn({ ...whereOf(config, trigger), type: problem.type, field: problem.field }, problem.summary);
    return problem;
  }

  /**
   * The detail of a refused read, and the digest of the row refused (null when REDCap gave none), for the email and
   * for reconciliation; a retried attempt writes it again. A config that is gone has no rows.
   */
  async function noteRefusal(em: EntityManager, read: IntakeRead, problem: IntakeProblem, digest: string | null) {
    const { workflowId, runId } = intakeRun();
    await em.getConnection().execute(
      `insert into "intake_failure" ("config_id", "record", "event_name", "repeat_instance", "workflow_id", "run_id", "read", "type", "field", "detail", "row_digest", "created_at")
       select "id", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now() from "redcap_config" where "id" = ?
       on conflict ("run_id", "read") do update
         set "type" = excluded."type", "field" = excluded."field", "detail" = excluded."detail", "row_digest" = excluded."row_digest"`,
      [
        read.record,
        read.eventName ?? '',
        read.instance ?? 0,
        workflowId,
        runId,
        read.read,
        problem.type,
        problem.field ?? null,
        problem.detail,
        digest,
        read.configId,
      ],
    );
  }

  /**
   * The one place a failed intake is recorded (the admins' email, the lab's list of problems): the row its read
   * noted, or a new one when it noted none (it gave up, or failed before reading). Returns the row's detail.
   */
  async function recordFailedIntake(
    em: EntityManager,
    failure: FailedIntake & { workflowId: string; runId: string },
  ): Promise<string> {
    await em.getConnection().execute(
      `insert into "intake_failure" ("config_id", "record", "event_name", "repeat_instance", "workflow_id", "run_id", "read", "type", "detail", "created_at")
       select "id", ?, ?, ?, ?, ?, ?, ?, ?, now() from "redcap_config" where "id" = ?
       on conflict ("run_id", "read") do nothing`,
      [
        failure.record,
        failure.eventName ?? '',
        failure.instance ?? 0,
        failure.workflowId,
        failure.runId,
        failure.read,
        failure.type,
        failure.message,
        failure.configId,
      ],
    );
    const row = await em.findOne(IntakeFailure, { runId: failure.runId, read: failure.read });
    return row?.detail ?? failure.message;
  }

  return {
    /**
     * Reads the trigger's record (event, instance) from REDCap and files it, in one go: the result names the session
     * and the stored record, the read itself stays in this activity. A refusal (a value that cannot be filed, a
     * session id that does not parse, an unknown study) is noted in intake_failure with the row's digest and fails
     * at once; REDCap or the database down is retried (the workflow's fetchTimeout). Heartbeats throughout.
     */
    readAndFileRedcapRecord(read: IntakeRead): Promise<FiledRecord> {
      return whileHeartbeating(async () => {
        const em = deps.orm.em.fork();
        const config = await configOf(em, read);
        let digest: string | null = null;
        try {
          const row = await exportRow(config, read);
          digest = rowDigest(row, config);
          await noteRedcapVersion(em, config, read.redcapVersion);
          const entry = readScanEntry(row, config, triggerName(read));
          const eventName = read.eventName || row.redcap_event_name || '';
          const eventId = await eventIdOf(config, read, eventName);
          log.info({ ...whereOf(config, read), eventId }, 'REDCap record read');
          return await file(em, read, keyOf(read, eventName), { ...entry, eventName, eventId });
        } catch (err) {
          const problem = refused(config, read, err);
          if (problem.permanent) {
            // Not noted (the database went away meanwhile): the retry reads and refuses again.
            await noteRefusal(em, read, problem, digest).catch((noteError: unknown) => {
              throw failureOf(refused(config, read, noteError));
            });
          }
          throw failureOf(problem);
        }
      });
    },

    /** Intakes started before 0.3.0: Export Records for the trigger's record; heartbeats. */
    fetchRedcapRecord(trigger: IntakeTrigger): Promise<FetchedRecord> {
      return whileHeartbeating(async () => {
        const config = await configOf(deps.orm.em.fork(), trigger);
        try {
          const row = await exportRow(config, trigger);
          const entry = readScanEntry(row, config, triggerName(trigger));
          const eventName = trigger.eventName || row.redcap_event_name || '';
          const eventId = await eventIdOf(config, trigger, eventName);
          log.info({ ...whereOf(config, trigger), eventId }, 'REDCap record read');
          return { ...entry, eventName, eventId };
        } catch (err) {
          throw failureOf(refused(config, trigger, err));
        }
      });
    },

    /** Intakes started before 0.3.0: files what fetchRedcapRecord read (its history holds it). */
    async fileRedcapRecord(trigger: IntakeTrigger, fetched: FetchedRecord): Promise<FiledRecord> {
      const em = deps.orm.em.fork();
      const config = await configOf(em, trigger);
      try {
        return await file(em, trigger, keyOf(trigger, fetched.eventName), fetched);
      } catch (err) {
        throw failureOf(refused(config, trigger, err));
      }
    },

    /**
     * A failed intake: recorded (recordFailedIntake), then one email to the admins, composed here from the recorded
     * detail. Retried until the email is sent (SMTP down for a day is a day of retries, never a silent give-up).
     */
    reportFailedIntake(failure: FailedIntake): Promise<{ emailed: boolean }> {
      return whileHeartbeating(async () => {
        const { workflowId, runId } = intakeRun();
        const em = deps.orm.em.fork();
        const detail = await recordFailedIntake(em, { ...failure, workflowId, runId });
        await intakeFailed(em, { ...failure, message: detail, workflowId, runId });
        const sent = await mail.emailAdmins({
          key: `${workflowId}:${runId}:${failure.read}:intake-failed`,
          kind: 'intake-failed',
          redcapConfigId: failure.configId,
          ...intakeFailedEmail({ ...failure, message: detail, workflowId, runId }),
        });
        await em.nativeUpdate(IntakeFailure, { runId, read: failure.read }, { reportedAt: new Date() });
        return { emailed: !sent.held };
      });
    },

    /**
     * Starts (or joins) the session's monitors, and notes on the session that they were started (they run once). A
     * retry (the worker died during an earlier attempt) keeps the monitors that attempt started, even if they have
     * finished since: never a second set, nor a second email.
     */
    async startMonitors(target: MonitorTarget): Promise<StartedMonitors> {
      const { attempt, scheduledTimestampMs } = Context.current().info;
      const started = await startScanMonitors(
        deps.temporal,
        deps.config,
        target,
        attempt > 1 ? { keepStartedSince: scheduledTimestampMs } : {},
      );
      await deps.orm.em
        .fork()
        .nativeUpdate(Session, { id: target.sessionId, monitorsStartedAt: null }, { monitorsStartedAt: new Date() });
      log.info({ sessionId: target.sessionId, started }, 'monitors started');
      return started;
    },

    /** Sends `cancel` with the reason to the running monitors of a session its record moved away from. */
    async cancelMovedSessionMonitors(input: { sessionId: string; movedTo: string }): Promise<SignalReport> {
      const reason = `record moved to ${input.movedTo}`;
      const report = await signalSessionMonitors(deps.temporal, input.sessionId, (handle) =>
        handle.signal(cancelSignal, { reason }),
      );
      log.info(
        { sessionId: input.sessionId, reason, signalled: report.signalled.map((m) => m.workflowId) },
        'monitors of the session the record left cancelled',
      );
      return report;
    },
  };
}
