/**
 * STAND-INS until issue 18's functions land (the session `state` kept on the session, the list GET /sessions,
 * GET /studies/:id/outstanding). Each is read from what the database holds today, and each is named for what
 * replaces it:
 * - `sessionStateSql` / `todaysSessionState`  → the state kept on the session (issue 18)
 * - `outstandingCounts`                       → the counts of issue 18's outstanding list, per study
 * - `recentSessions`                          → issue 18's session list (newest first, with state)
 * The pages only use the types and the three functions below, so replacing them replaces nothing else.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** The contract's session states ("The lab's view"). */
export const SESSION_STATES = [
  'waiting',
  'missing-scans',
  'downloading',
  'scans-present',
  'no-scans-expected',
  'no-redcap-record',
  'no-redcap-expected',
  'problem',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

/**
 * A session's state from today's tables, as SQL over `s` (session), `t` (its timepoint) and `st` (its
 * study_timepoint), with one parameter: the time (ms) before which a started monitor's wait has run out.
 */
const SESSION_STATE_SQL = `case
  when s.monitors_cancelled_at is not null or exists (select 1 from empty_session e where e.session_id = s.id)
    then 'no-scans-expected'
  when exists (select 1 from session_redcap sr where sr.session_id = s.id and sr.record_id is null)
    then 'no-redcap-expected'
  when not exists (select 1 from session_redcap sr where sr.session_id = s.id)
    and exists (select 1 from study_site ss where ss.study_id = st.study_id and ss.site_id = t.site_id and ss.uses_redcap)
    then 'no-redcap-record'
  when exists (select 1 from scan c where c.session_id = s.id) then 'scans-present'
  when exists (select 1 from job_run j where j.session_id = s.id and j.kind = 'download' and j.status = 'running')
    then 'downloading'
  when exists (select 1 from sent_email m where m.session_id = s.id and m.kind = 'no-scans' and m.status = 'sent')
    or s.monitors_started_at < to_timestamp(?::double precision / 1000)
    then 'missing-scans'
  else 'waiting'
end`;

/** The stand-in's one knob: a session whose monitors started longer ago than this misses its scans. */
export interface StateRules {
  scanCheckDelayMs: number;
}

const waitedOutBefore = (rules: StateRules) => Date.now() - rules.scanCheckDelayMs;

/** Sessions of a study, newest first (by scan date, then id; those without a date first), with their state. */
export interface SessionRow {
  sessionId: string;
  siteId: string;
  date: string | null;
  state: SessionState;
  /** Our id of its REDCap record (the link is /redcap_redirect/:id); null without one. */
  recordId: number | null;
}

export async function recentSessions(
  em: EntityManager,
  rules: StateRules,
  studyId: string,
  limit: number,
): Promise<SessionRow[]> {
  const rows: Array<{
    id: string;
    site_id: string;
    date: string | null;
    state: SessionState;
    record_id: number | null;
  }> = await em.getConnection().execute(
    `select s.id, t.site_id, to_char(s.date, 'YYYY-MM-DD') as date, ${SESSION_STATE_SQL} as state,
              (select sr.record_id from session_redcap sr where sr.session_id = s.id) as record_id
       from session s join timepoint t on t.id = s.timepoint_id
       join study_timepoint st on st.timepoint_id = s.timepoint_id and st.study_id = ?
       order by s.date desc nulls first, s.id desc
       limit ?`,
    [waitedOutBefore(rules), studyId, limit],
  );
  return rows.map((row) => ({
    sessionId: row.id,
    siteId: row.site_id,
    date: row.date,
    state: row.state,
    recordId: row.record_id,
  }));
}

/** The state of one session (its page). */
export async function todaysSessionState(
  em: EntityManager,
  rules: StateRules,
  sessionId: string,
  studyId: string,
): Promise<SessionState> {
  const [row]: Array<{ state: SessionState }> = await em.getConnection().execute(
    `select ${SESSION_STATE_SQL} as state
     from session s join timepoint t on t.id = s.timepoint_id
     join study_timepoint st on st.timepoint_id = t.id and st.study_id = ?
     where s.id = ?`,
    [waitedOutBefore(rules), studyId, sessionId],
  );
  return row?.state ?? 'waiting';
}

/** What needs a person in a study, counted. */
export interface OutstandingCounts {
  missingScans: number;
  noRedcapRecord: number;
  problems: number;
}

/** Per study id (every study asked for has an entry). */
export async function outstandingCounts(
  em: EntityManager,
  rules: StateRules,
  studyIds: string[],
): Promise<Map<string, OutstandingCounts>> {
  const counts = new Map(studyIds.map((id) => [id, { missingScans: 0, noRedcapRecord: 0, problems: 0 }]));
  if (studyIds.length === 0) return counts;
  const rows: Array<{ study_id: string; state: SessionState; n: string }> = await em.getConnection().execute(
    `select study_id, state, count(*) as n from (
       select st.study_id, ${SESSION_STATE_SQL} as state
       from study_timepoint st join timepoint t on t.id = st.timepoint_id join session s on s.timepoint_id = t.id
       where st.study_id in (?)
     ) states where state in ('missing-scans', 'no-redcap-record', 'problem') group by study_id, state`,
    [waitedOutBefore(rules), studyIds],
  );
  for (const row of rows) {
    const entry = counts.get(row.study_id)!;
    const n = Number(row.n);
    if (row.state === 'missing-scans') entry.missingScans = n;
    else if (row.state === 'no-redcap-record') entry.noRedcapRecord = n;
    else entry.problems = n;
  }
  return counts;
}
