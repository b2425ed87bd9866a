/** Activities of RedcapIntakeWorkflow: read the record from REDCap, file it, start the monitors, cancel a moved record's. */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { RedcapConfig, Session } from '../src/db/entities';
import { DomainError } from '../src/errors';
import { RedcapClient, RedcapError } from '../src/redcap/client';
import { recordName } from '../src/redcap/names';
import { exportedFields } from '../src/redcap/reconcile';
import { readScanEntry, type ScanEntry } from '../src/redcap/record';
import { filingRefused, recordFiled } from '../src/lab-data/problems';
import { fileRecord } from '../src/sessions/domain';
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

/** `redcap`: shared with reconciliation, which keeps the record id fields it reads fresh for the intakes. */
export function createIntakeActivities(deps: ActivityDeps, redcap = new RedcapClient()) {
  const log = deps.logger.child({ component: 'intake' });

  /** Export Records for the trigger's record (event and instance), read through the config's field names. */
  async function fetchRecord(trigger: IntakeTrigger): Promise<FetchedRecord> {
    const em = deps.orm.em.fork();
    const config = await em.findOne(RedcapConfig, trigger.configId);
    if (!config) {
      throw ApplicationFailure.nonRetryable(
        `REDCap config ${trigger.configId} no longer exists`,
        'RedcapConfigMissing',
      );
    }
    const endpoint = { url: config.url, project: config.project, token: config.token };
    const where = {
      configId: config.id,
      project: config.project,
      record: trigger.record,
      eventName: trigger.eventName ?? null,
      instance: trigger.instance ?? null,
    };
    try {
      // Only the configured fields (and the record id field, which makes REDCap send its event and repeat columns).
      const recordIdField = await redcap.recordIdField(endpoint, `record ${triggerName(trigger)}`);
      const fields = exportedFields(config, recordIdField);
      const row = await redcap.exportRecord(endpoint, trigger.record, fields, trigger.eventName, {
        instance: trigger.instance,
        instrument: config.instrument,
      });
      const entry = readScanEntry(row, config, triggerName(trigger));
      const eventName = trigger.eventName || row.redcap_event_name || '';
      let eventId: number | null = null;
      if (eventName) {
        try {
          eventId = (await redcap.exportEvents(endpoint)).get(eventName) ?? null;
          if (eventId === null)
            log.warn(
              where,
              `REDCap Export Events has no event_id for ${eventName}; the record link will have no event_id`,
            );
        } catch (err) {
          log.warn(
            { ...where, reason: (err as Error).message },
            'REDCap Export Events failed; the record link will have no event_id',
          );
        }
      }
      log.info({ ...where, sessionName: entry.sessionName, eventId }, 'REDCap record read');
      return { ...entry, eventName, eventId };
    } catch (err) {
      if (err instanceof RedcapError) {
        log.warn({ ...where, type: err.type, retryable: err.retryable }, err.message);
        throw ApplicationFailure.create({
          message: err.message,
          type: err.type,
          nonRetryable: !err.retryable,
          details: [err.details],
        });
      }
      throw err;
    }
  }

  return {
    /** Export Records for the trigger's record (event, instance); heartbeats so a dead worker is noticed in seconds. */
    fetchRedcapRecord(trigger: IntakeTrigger): Promise<FetchedRecord> {
      return whileHeartbeating(() => fetchRecord(trigger));
    },

    /**
     * Files what was read, in one transaction (src/sessions/domain.ts fileRecord): the session, the stored record
     * (identified by config, record, event and instance; its date, comment and user follow REDCap), the link, moved
     * from another session when the session id was corrected.
     */
    async fileRedcapRecord(trigger: IntakeTrigger, fetched: FetchedRecord): Promise<FiledRecord> {
      const em = deps.orm.em.fork();
      const key = {
        configId: trigger.configId,
        record: trigger.record,
        eventName: fetched.eventName,
        instance: trigger.instance ?? 0,
      };
      try {
        const filed = await fileRecord(em, key, fetched);
        await recordFiled(em, trigger, [filed.session.id, filed.movedFrom]);
        const { session, studySite, record } = filed;
        log.info(
          {
            ...key,
            sessionId: session.id,
            redcapRecordId: record.id,
            created: filed.sessionCreated,
            change: filed.change,
            movedFrom: filed.movedFrom,
          },
          'REDCap record filed',
        );
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
      } catch (err) {
        if (err instanceof DomainError && err.status < 500) {
          const message = `REDCap record ${triggerName(trigger)} (config ${trigger.configId}): ${err.message}`;
          log.warn({ ...key, type: err.name }, message);
          await filingRefused(em, trigger, fetched.sessionName, err);
          throw ApplicationFailure.create({ message, type: err.name, nonRetryable: true, details: [err.details] });
        }
        throw err;
      }
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
