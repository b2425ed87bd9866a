/**
 * The one module that keeps a session's `state` and `outstandingSince` (docs/http-api.md "Session states"):
 * recomputed from the facts in the database by every path that changes them (intake filing, a scan registered, a
 * monitor's email sent, a download attempt, a cancel, a dismissal and its undo, a record moved, a failed intake),
 * so that the lists are one indexed query and never ask Temporal. The rule is the CASE below.
 *
 * A refresh locks the sessions' rows, then reads the facts in a statement of its own: refreshes of one session run
 * one after another, and each reads what was committed before it took the lock, so the last one is right.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { logger as defaultLogger, type Logger } from '../logger';

/**
 * The facts of the given sessions and the state they make. Kept in step with the copy frozen in
 * Migration20261203140000 (which gives the sessions of before their state): change both or add a migration.
 */
const REFRESH_SQL = `
  with facts as (
    select s.id,
      coalesce(st.site_id, tp.site_id) as site_id,
      st.study_id,
      coalesce(st.uses_redcap, true) as uses_redcap,
      -- XNAT (the xnat state on the session): an experiment archived there counts as scans here too, and its upload
      -- time as the first scan's.
      (select min(scan.created_at) from scan where scan.session_id = s.id) as first_scan_at,
      link.record_id is not null as has_record,
      (link.session_id is not null and link.record_id is null)
        or exists (select 1 from session_dismissal d where d.session_id = s.id and d.kind = 'no-redcap-expected')
        as no_redcap_expected,
      s.monitors_cancelled_at is not null
        or exists (select 1 from empty_session e where e.session_id = s.id)
        or exists (select 1 from session_dismissal d where d.session_id = s.id and d.kind = 'no-scans-expected')
        as no_scans_expected,
      (select min(m.sent_at) from sent_email m
        where m.session_id = s.id and m.kind in ('no-scans', 'download-gave-up') and m.status = 'sent') as emailed_at,
      exists (select 1 from job_run j where j.session_id = s.id and j.kind = 'download') as download_tried,
      (select min(p.first_at) from problem p where p.session_id = s.id and p.resolved_at is null) as problem_at
    from session s
    join timepoint tp on tp.id = s.timepoint_id
    left join study_site st on st.code = split_part(s.id, '_', 1) and st.site_id = split_part(s.id, '_', 2)
    left join session_redcap link on link.session_id = s.id
    where s.id in (?)
  ),
  judged as (
    select facts.*, rule.state,
      case rule.state
        when 'problem' then facts.problem_at
        when 'no-redcap-record' then facts.first_scan_at
        when 'missing-scans' then facts.emailed_at
      end as outstanding_since
    from facts cross join lateral (select case
      when facts.problem_at is not null then 'problem'
      when facts.first_scan_at is not null and (facts.has_record or not facts.uses_redcap) then 'scans-present'
      when facts.first_scan_at is not null and facts.no_redcap_expected then 'no-redcap-expected'
      when facts.first_scan_at is not null then 'no-redcap-record'
      when facts.no_scans_expected then 'no-scans-expected'
      when not facts.has_record and facts.uses_redcap and facts.no_redcap_expected then 'no-redcap-expected'
      when not facts.has_record and facts.uses_redcap then 'no-redcap-record'
      when facts.emailed_at is not null then 'missing-scans'
      when facts.download_tried then 'downloading'
      else 'waiting'
    end as state) rule
  )
  update session s
  set state = judged.state, outstanding_since = judged.outstanding_since,
      study_id = judged.study_id, site_id = judged.site_id
  from judged
  where judged.id = s.id
    and (s.state, s.outstanding_since, s.study_id, s.site_id)
      is distinct from (judged.state, judged.outstanding_since, judged.study_id, judged.site_id)
  returning s.id, s.state`;

/** A site's last upload: the latest scan registered for its sessions (only ever later). */
const LAST_SCAN_SQL = `
  update study_site st set last_scan_at = latest.at
  from (
    select s.study_id, s.site_id, max(scan.created_at) as at
    from session s join scan on scan.session_id = s.id
    where s.id in (?) and s.study_id is not null
    group by s.study_id, s.site_id
  ) latest
  where st.study_id = latest.study_id and st.site_id = latest.site_id
    and (st.last_scan_at is null or st.last_scan_at < latest.at)`;

/** Sessions refreshed at once at most (an IN list of bound values). */
const BATCH = 1_000;

/** Recomputes the state of these sessions (ids that are no session are left out); returns the ones that changed. */
export async function refreshSessionStates(
  em: EntityManager,
  sessionIds: Array<string | null | undefined>,
): Promise<Array<{ id: string; state: string }>> {
  const ids = [...new Set(sessionIds.filter((id): id is string => Boolean(id)))].sort();
  const changed: Array<{ id: string; state: string }> = [];
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = ids.slice(i, i + BATCH);
    await em.fork().transactional(async (tx) => {
      // In id order, so that two refreshes of overlapping sessions never wait for each other in a circle.
      await tx.execute(`select id from session where id in (?) order by id for update`, [batch]);
      changed.push(...(await tx.execute<Array<{ id: string; state: string }>>(REFRESH_SQL, [batch])));
      await tx.execute(LAST_SCAN_SQL, [batch]);
    });
  }
  return changed;
}

/** Every session of a study (and those not yet given one): the digest's daily repair of anything a path missed. */
export async function refreshStudyStates(em: EntityManager, studyId: string): Promise<number> {
  const rows = await em.execute<Array<{ id: string }>>(
    `select id from session where study_id = ? or study_id is null order by id`,
    [studyId],
  );
  return (
    await refreshSessionStates(
      em,
      rows.map((row) => row.id),
    )
  ).length;
}

/**
 * For the hooks in the activities and routes: the facts are committed already, so a refresh that fails is logged and
 * left to the next change (or the next digest's repair) rather than failing the work that changed them.
 */
export async function sessionsChanged(
  em: EntityManager,
  sessionIds: Array<string | null | undefined>,
  log: Logger = defaultLogger,
): Promise<void> {
  try {
    await refreshSessionStates(em, sessionIds);
  } catch (err) {
    log.warn({ err, sessionIds }, 'could not refresh the state of sessions; the next change or digest does');
  }
}
