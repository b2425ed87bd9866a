/**
 * Domain operations on sessions, with the rules users rely on. Each takes the caller's EntityManager
 * (a fork per request or activity) and flushes its own changes.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordChange } from '../../surface';
import { RedcapConfig, RedcapRecord, Session, SessionRedcap, Site, StudySite, Timepoint } from '../db/entities';
import { BadRequestError, ConflictError, NotFoundError } from '../errors';
import { recordName } from '../redcap/names';
import type { ScanEntry } from '../redcap/record';
import { parseSessionId, type SessionName } from './ids';

export class UnknownStudyError extends BadRequestError {}

/** The study run at the id's site under the id's study code. */
export async function findStudySite(em: EntityManager, name: SessionName): Promise<StudySite> {
  const studySite = await em.findOne(StudySite, { code: name.study, site: name.site }, { populate: ['study', 'site'] });
  if (!studySite) {
    throw new UnknownStudyError(
      `Unknown study for session "${name.sessionId}": no study uses code ${name.study} at site ${name.site}`,
      { sessionId: name.sessionId, studyCode: name.study, site: name.site },
    );
  }
  return studySite;
}

/** Finds the session for an id, creating its timepoint and session as needed (the date fills in if unset). */
export async function findOrCreateSession(
  em: EntityManager,
  rawId: string,
  date?: string | null,
): Promise<{ session: Session; studySite: StudySite; created: boolean }> {
  const name = parseSessionId(rawId);
  const studySite = await findStudySite(em, name);

  const timepoint: Timepoint =
    (await em.findOne(Timepoint, name.timepointId, { populate: ['studies'] })) ??
    em.create(Timepoint, { id: name.timepointId, site: em.getReference(Site, name.site), isPhantom: name.isPhantom });
  if (!timepoint.studies.contains(studySite.study)) timepoint.studies.add(studySite.study);

  let session = await em.findOne(Session, name.sessionId);
  const created = !session;
  if (!session) {
    session = em.create(Session, {
      id: name.sessionId,
      timepoint,
      num: name.num,
      date: date ?? null,
      study: studySite.study,
      site: studySite.site,
    });
  } else if (!session.date && date) {
    session.date = date;
  }
  await em.flush();
  return { session, studySite, created };
}

export interface Attachment {
  change: 'attached' | 'unchanged' | 'moved';
  /** The session the record was linked to before (`moved`): it keeps no record, and its monitors may run again. */
  movedFrom?: string;
}

/**
 * Links a session to its REDCap record. The same link again changes nothing; a record linked to another session
 * moves here (the other session keeps none); a session that already has another record, or is marked as expecting
 * none, refuses it.
 */
export async function attachRedcapRecord(
  em: EntityManager,
  session: Session,
  record: RedcapRecord,
): Promise<Attachment> {
  const current = await em.findOne(SessionRedcap, { record: record.id });
  if (current?.session.id === session.id) return { change: 'unchanged' };
  const link = await em.findOne(SessionRedcap, { session: session.id }, { populate: ['record'] });
  if (link) {
    if (link.record === null || link.record === undefined) {
      throw new ConflictError(`Session ${session.id} is marked as expecting no REDCap record`, {
        sessionId: session.id,
      });
    }
    throw new ConflictError(
      `Session ${session.id} already has REDCap record ${recordName(link.record.record, link.record.eventName, link.record.repeatInstance)} (id ${link.record.id}); ` +
        `refusing a second record, ${recordName(record.record, record.eventName, record.repeatInstance)} (id ${record.id})`,
      { sessionId: session.id, existingRecordId: link.record.id, refusedRecordId: record.id },
    );
  }
  let movedFrom: string | undefined;
  if (current) {
    movedFrom = current.session.id;
    em.remove(current);
    await em.flush(); // the old link goes before the new one takes the record
    await em.nativeUpdate(Session, { id: movedFrom }, { monitorsStartedAt: null });
  }
  em.create(SessionRedcap, { session, record });
  await em.flush();
  return movedFrom ? { change: 'moved', movedFrom } : { change: 'attached' };
}

/** A stored REDCap record: (config, record, event, repeat instance; 0 when it does not repeat). */
export interface RecordKey {
  configId: number;
  record: string;
  eventName: string;
  instance: number;
}

export interface RecordEntry extends ScanEntry {
  /** REDCap's event_id; null when unknown (a known one is kept). */
  eventId: number | null;
}

export interface Filing {
  session: Session;
  studySite: StudySite;
  sessionCreated: boolean;
  record: RedcapRecord;
  change: RecordChange;
  movedFrom?: string;
  /** The session's monitors have not been started yet (they run once). */
  monitorsDue: boolean;
}

/**
 * Files what REDCap has now for a record, in one transaction: the timepoint and session it names (created as
 * needed), the stored record (created, or its date, comment, user and session name updated), the link (moved from
 * another session when the session id was corrected), and the session's date (the record's). A refusal (a session
 * with another record, an unknown study) changes nothing.
 */
export async function fileRecord(em: EntityManager, key: RecordKey, entry: RecordEntry): Promise<Filing> {
  return em.transactional(async (tx) => {
    const { session, studySite, created } = await findOrCreateSession(tx, entry.sessionName, entry.entryDate);
    const where = { config: key.configId, record: key.record, eventName: key.eventName, repeatInstance: key.instance };
    const values = {
      entryDate: entry.entryDate,
      comment: entry.comment,
      user: entry.user,
      sessionName: entry.sessionName,
      ...(entry.eventId !== null ? { eventId: entry.eventId } : {}),
    };
    let record = await tx.findOne(RedcapRecord, where);
    let change: RecordChange = 'unchanged';
    if (!record) {
      record = tx.create(RedcapRecord, {
        ...where,
        config: tx.getReference(RedcapConfig, key.configId),
        eventId: entry.eventId,
        ...values,
      });
      change = 'created';
    } else if (
      Object.entries(values).some(([field, value]) => (record as unknown as Record<string, unknown>)[field] !== value)
    ) {
      tx.assign(record, values);
      change = 'updated';
    }
    await tx.flush();
    const attachment = await attachRedcapRecord(tx, session, record);
    if (attachment.change === 'moved') change = 'moved';
    else if (attachment.change === 'attached' && change === 'unchanged') change = 'updated';
    if (session.date !== entry.entryDate) {
      session.date = entry.entryDate;
      await tx.flush();
    }
    return {
      session,
      studySite,
      sessionCreated: created,
      record,
      change,
      ...(attachment.movedFrom ? { movedFrom: attachment.movedFrom } : {}),
      monitorsDue: !session.monitorsStartedAt,
    };
  });
}

/** Marks a session as one for which no REDCap record will come. */
export async function markExpectingNoRecord(em: EntityManager, session: Session): Promise<void> {
  const link = await em.findOne(SessionRedcap, { session: session.id });
  if (link?.record) {
    throw new ConflictError(`Session ${session.id} already has REDCap record ${link.record.id}`, {
      sessionId: session.id,
    });
  }
  if (!link) em.create(SessionRedcap, { session, record: null });
  await em.flush();
}

/** The session for an id (any convention, any case), with its timepoint, scans and REDCap record. */
export async function findSession(em: EntityManager, rawId: string): Promise<Session> {
  const { sessionId } = parseSessionId(rawId);
  const session = await em.findOne(Session, sessionId, {
    populate: ['timepoint', 'timepoint.studies', 'scans', 'redcap', 'redcap.record', 'redcap.record.config', 'empty'],
  });
  if (!session) throw new NotFoundError(`No session ${sessionId}`, { sessionId });
  return session;
}

/**
 * findOrCreateSession for many sessions of one study site at once (the XNAT sync files thousands): the same rows,
 * made by three statements instead of a round of queries per session. A session, timepoint or study link that
 * exists is left as it is (its date too). Returns the ids of the sessions it created.
 */
export async function createSessions(
  em: EntityManager,
  studySite: StudySite,
  sessions: Array<{ name: SessionName; date?: string | null }>,
): Promise<string[]> {
  if (sessions.length === 0) return [];
  const timepoints = [...new Map(sessions.map(({ name }) => [name.timepointId, name])).values()];
  return em.transactional(async (tx) => {
    await tx.execute(
      `insert into timepoint (id, site_id, is_phantom)
         select id, ?, is_phantom from json_to_recordset(?::json) as t(id varchar, is_phantom boolean)
         on conflict do nothing`,
      [
        studySite.site.id,
        JSON.stringify(timepoints.map((name) => ({ id: name.timepointId, is_phantom: name.isPhantom }))),
      ],
    );
    await tx.execute(
      `insert into study_timepoint (timepoint_id, study_id)
         select id, ? from json_to_recordset(?::json) as t(id varchar) on conflict do nothing`,
      [studySite.study.id, JSON.stringify(timepoints.map((name) => ({ id: name.timepointId })))],
    );
    const created = await tx.execute<Array<{ id: string }>>(
      `insert into session (id, timepoint_id, num, date)
         select id, timepoint_id, num, date from json_to_recordset(?::json) as s(id varchar, timepoint_id varchar, num int, date date)
         on conflict do nothing returning id`,
      [
        JSON.stringify(
          sessions.map(({ name, date }) => ({
            id: name.sessionId,
            timepoint_id: name.timepointId,
            num: name.num,
            date: date ?? null,
          })),
        ),
      ],
    );
    return created.map((row) => row.id);
  });
}
