/** Activities of RedcapIntakeWorkflow: read the record from REDCap, file it, start the monitors. */
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApplicationFailure } from '@temporalio/common';
import { RedcapConfig, RedcapRecord } from '../src/db/entities';
import { DomainError } from '../src/errors';
import { RedcapClient, RedcapError } from '../src/redcap/client';
import { readScanEntry, type ScanEntry } from '../src/redcap/record';
import { attachRedcapRecord, findOrCreateSession } from '../src/sessions/domain';
import { startScanMonitors } from '../src/temporal/monitors';
import type { IntakeTrigger, MonitorTarget, StartedMonitors } from '../surface';
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
}

export function createIntakeActivities(deps: ActivityDeps) {
  const redcap = new RedcapClient();
  const log = deps.logger.child({ component: 'intake' });

  /** Export Records for the trigger's record (and event), read through the config's field names. */
  async function fetchRecord(trigger: IntakeTrigger): Promise<FetchedRecord> {
    const em = deps.orm.em.fork() as EntityManager;
    const config = await em.findOne(RedcapConfig, trigger.configId);
    if (!config) {
      throw ApplicationFailure.nonRetryable(`REDCap config ${trigger.configId} no longer exists`, 'RedcapConfigMissing');
    }
    const endpoint = { url: config.url, project: config.project, token: config.token };
    const where = { configId: config.id, project: config.project, record: trigger.record, eventName: trigger.eventName ?? null };
    try {
      const row = await redcap.exportRecord(endpoint, trigger.record, trigger.eventName);
      const entry = readScanEntry(row, config, trigger.record);
      const eventName = trigger.eventName || row.redcap_event_name || '';
      let eventId: number | null = null;
      if (eventName) {
        try {
          eventId = (await redcap.exportEvents(endpoint)).get(eventName) ?? null;
          if (eventId === null) log.warn(where, `REDCap Export Events has no event_id for ${eventName}; the record link will have no event_id`);
        } catch (err) {
          log.warn({ ...where, reason: (err as Error).message }, 'REDCap Export Events failed; the record link will have no event_id');
        }
      }
      log.info({ ...where, sessionName: entry.sessionName, eventId }, 'REDCap record read');
      return { ...entry, eventName, eventId };
    } catch (err) {
      if (err instanceof RedcapError) {
        log.warn({ ...where, type: err.type, retryable: err.retryable }, err.message);
        throw ApplicationFailure.create({ message: err.message, type: err.type, nonRetryable: !err.retryable, details: [err.details] });
      }
      throw err;
    }
  }

  return {
    /** Export Records for the trigger's record (and event); heartbeats so a dead worker is noticed in seconds. */
    fetchRedcapRecord(trigger: IntakeTrigger): Promise<FetchedRecord> {
      return whileHeartbeating(() => fetchRecord(trigger));
    },

    /** Finds or creates the timepoint and session, stores the RedcapRecord once, and links it to the session. */
    async fileRedcapRecord(trigger: IntakeTrigger, fetched: FetchedRecord): Promise<FiledRecord> {
      const em = deps.orm.em.fork() as EntityManager;
      try {
        const { session, studySite, created } = await findOrCreateSession(em, fetched.sessionName, fetched.entryDate);
        const record = await storeRecord(em, trigger, fetched);
        await attachRedcapRecord(em, session, record);
        log.info({ configId: trigger.configId, record: trigger.record, sessionId: session.id, redcapRecordId: record.id, created }, 'REDCap record filed');
        return {
          sessionId: session.id,
          studyId: studySite.study.id,
          siteId: studySite.site.id,
          downloadScript: studySite.downloadScript ?? null,
          redcapRecordId: record.id,
          sessionCreated: created,
        };
      } catch (err) {
        if (err instanceof DomainError && err.status < 500) {
          const message = `REDCap record ${trigger.record} (config ${trigger.configId}): ${err.message}`;
          log.warn({ configId: trigger.configId, record: trigger.record, type: err.name }, message);
          throw ApplicationFailure.create({ message, type: err.name, nonRetryable: true, details: [err.details] });
        }
        throw err;
      }
    },

    /** Starts (or joins) the session's monitors. */
    async startMonitors(target: MonitorTarget): Promise<StartedMonitors> {
      const started = await startScanMonitors(deps.temporal, deps.config, target);
      log.info({ sessionId: target.sessionId, started }, 'monitors started');
      return started;
    },
  };
}

/** The RedcapRecord for (record, config, event, date), created once: a retried activity finds the first one. */
async function storeRecord(em: EntityManager, trigger: IntakeTrigger, fetched: FetchedRecord): Promise<RedcapRecord> {
  const key = { config: trigger.configId, record: trigger.record, eventName: fetched.eventName, entryDate: fetched.entryDate };
  const existing = await em.findOne(RedcapRecord, key);
  if (existing) {
    if (existing.eventId == null && fetched.eventId != null) {
      existing.eventId = fetched.eventId;
      await em.flush();
    }
    return existing;
  }
  const record = em.create(RedcapRecord, {
    config: em.getReference(RedcapConfig, trigger.configId),
    record: trigger.record,
    eventName: fetched.eventName,
    eventId: fetched.eventId,
    entryDate: fetched.entryDate,
    user: fetched.user,
    comment: fetched.comment,
    sessionName: fetched.sessionName,
  });
  try {
    await em.flush();
    return record;
  } catch (err) {
    if (!(err instanceof UniqueConstraintViolationException)) throw err;
    // Stored meanwhile by another attempt: use that one.
    return em.fork().findOneOrFail(RedcapRecord, key);
  }
}
