/**
 * Domain operations on sessions, with the rules users rely on. Each takes the caller's EntityManager
 * (a fork per request or activity) and flushes its own changes.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { RedcapRecord, Session, SessionRedcap, Site, StudySite, Timepoint } from '../db/entities';
import { BadRequestError, ConflictError, NotFoundError } from '../errors';
import { parseSessionId, type SessionName } from './ids';
import { checkSessionScans } from './scan-check';

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
    session = em.create(Session, { id: name.sessionId, timepoint, num: name.num, date: date ?? null });
  } else if (!session.date && date) {
    session.date = date;
  }
  await em.flush();
  return { session, studySite, created };
}

/**
 * Links a session to its REDCap record. The same record again changes nothing; a session that already has
 * another record, or is marked as expecting none, refuses it.
 */
export async function attachRedcapRecord(em: EntityManager, session: Session, record: RedcapRecord): Promise<'attached' | 'unchanged'> {
  const link = await em.findOne(SessionRedcap, { session: session.id });
  if (link) {
    if (link.record === null || link.record === undefined) {
      throw new ConflictError(`Session ${session.id} is marked as expecting no REDCap record`, { sessionId: session.id });
    }
    if (link.record.id === record.id) return 'unchanged';
    throw new ConflictError(
      `Session ${session.id} already has REDCap record ${link.record.id}; refusing a second record (${record.id})`,
      { sessionId: session.id, existingRecordId: link.record.id, refusedRecordId: record.id },
    );
  }
  em.create(SessionRedcap, { session, record });
  await em.flush();
  return 'attached';
}

/** Marks a session as one for which no REDCap record will come. */
export async function markExpectingNoRecord(em: EntityManager, session: Session): Promise<void> {
  const link = await em.findOne(SessionRedcap, { session: session.id });
  if (link?.record) {
    throw new ConflictError(`Session ${session.id} already has REDCap record ${link.record.id}`, { sessionId: session.id });
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

/** True when the session has a REDCap record, no scans, and is not marked as never getting any (scan-check.ts). */
export async function missingScans(em: EntityManager, sessionId: string): Promise<boolean> {
  return (await checkSessionScans(em, sessionId)).missingScans;
}
