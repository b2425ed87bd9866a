/**
 * Problems that need a person, recorded where they happen: an intake whose record could not be filed (an id that fits
 * no convention, an unknown study, a session that has another record…), and reconciliation's finds of records no
 * trigger announced. A problem is one row per REDCap record (config, record, event, instance), kept up to date while
 * the intake fails again, and resolved when an intake of that record files it.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ProblemKind } from '../db/lab-data';
import type { DomainError } from '../errors';
import type { IntakeFailure, MissedTriggers as MissedTriggersFacts } from '../mail/templates';
import { findStudySite } from '../sessions/domain';
import { parseSessionId } from '../sessions/ids';
import { sessionsChanged } from './state';

/** A REDCap record as an intake names it. */
export interface IntakeRecord {
  configId: number;
  record: string;
  eventName?: string | null;
  instance?: number | null;
}

/** One key per REDCap record of a config: the parts as JSON, so that no two records share one. */
export const intakeProblemKey = (trigger: IntakeRecord): string =>
  `redcap:${trigger.configId}:${JSON.stringify([trigger.record, trigger.eventName ?? '', trigger.instance ?? 0])}`;

const kindOf = (errorType: string): ProblemKind =>
  errorType === 'InvalidSessionIdError' ? 'invalid-session-id' : 'intake-failed';

interface Pin {
  sessionName: string;
  studyId: string | null;
  siteId: string | null;
  sessionId: string | null;
}

/** Where a session id read from REDCap points: its study and site, and the session when it exists. */
async function pinOf(em: EntityManager, sessionName: string): Promise<Pin> {
  const pin: Pin = { sessionName, studyId: null, siteId: null, sessionId: null };
  try {
    const name = parseSessionId(sessionName);
    pin.siteId = name.site;
    const studySite = await findStudySite(em, name);
    pin.studyId = studySite.study.id;
    const [row] = await em.execute<Array<{ id: string }>>(`select id from session where id = ?`, [name.sessionId]);
    pin.sessionId = row?.id ?? null;
  } catch {
    // An id that fits no convention, or names no study: the problem is not pinned further.
  }
  return pin;
}

/**
 * Inserts or updates the record's problem (a problem resolved before opens again as new). With `pin`, the study, site
 * and session it names replace those recorded; without, they stay. Returns the sessions whose state it may change.
 */
async function upsertProblem(
  em: EntityManager,
  trigger: IntakeRecord,
  kind: ProblemKind,
  reason: string,
  pin?: Pin,
): Promise<Array<string | null>> {
  const key = intakeProblemKey(trigger);
  const [before] = await em.execute<Array<{ session_id: string | null }>>(
    `select session_id from problem where key = ?`,
    [key],
  );
  const pinned = pin
    ? `study_id = excluded.study_id, site_id = excluded.site_id, session_id = excluded.session_id,
       session_name = excluded.session_name,`
    : '';
  const [after] = await em.execute<Array<{ session_id: string | null }>>(
    `insert into problem (key, kind, study_id, site_id, session_id, redcap_config_id, record, event_name, repeat_instance,
                          session_name, reason, first_at, last_at, resolved_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), now(), null)
     on conflict (key) do update set ${pinned}
       kind = excluded.kind, reason = excluded.reason, last_at = now(), resolved_at = null,
       first_at = case when problem.resolved_at is null then problem.first_at else now() end
     returning session_id`,
    [
      key,
      kind,
      pin?.studyId ?? null,
      pin?.siteId ?? null,
      pin?.sessionId ?? null,
      trigger.configId,
      trigger.record,
      trigger.eventName ?? '',
      trigger.instance ?? 0,
      pin?.sessionName ?? null,
      reason,
    ],
  );
  return [before?.session_id ?? null, after?.session_id ?? null];
}

/** The intake's filing was refused (activities/intake.ts): the problem, pinned on what the session id names. */
export async function filingRefused(
  em: EntityManager,
  trigger: IntakeRecord,
  sessionName: string,
  err: DomainError,
): Promise<void> {
  await sessionsChanged(
    em,
    await upsertProblem(em, trigger, kindOf(err.name), err.message, await pinOf(em, sessionName)),
  );
}

/** The intake failed and its email is asked for (activities/mail.ts): the problem, with the workflow's final reason. */
export async function intakeFailed(em: EntityManager, failure: IntakeFailure): Promise<void> {
  await sessionsChanged(em, await upsertProblem(em, failure, kindOf(failure.type), failure.message));
}

/** An intake filed its record (activities/intake.ts): its problem, if any, is resolved; the sessions' states follow. */
export async function recordFiled(
  em: EntityManager,
  trigger: IntakeRecord,
  sessionIds: Array<string | null | undefined>,
): Promise<void> {
  const resolved = await em.execute<Array<{ session_id: string | null }>>(
    `update problem set resolved_at = now() where key = ? and resolved_at is null returning session_id`,
    [intakeProblemKey(trigger)],
  );
  await sessionsChanged(em, [...sessionIds, ...resolved.map((row) => row.session_id)]);
}

/** A reconciliation run found records without a trigger (activities/reconcile.ts); a retried activity records it once. */
export async function triggersMissed(
  em: EntityManager,
  run: string,
  missed: Pick<MissedTriggersFacts, 'configId' | 'count' | 'sample'>,
): Promise<void> {
  await em.execute(
    `insert into missed_triggers (run, redcap_config_id, count, sample, found_at) values (?, ?, ?, ?, now())
     on conflict (run) do nothing`,
    [run, missed.configId, missed.count, JSON.stringify(missed.sample)],
  );
}
