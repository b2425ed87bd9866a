/**
 * The reverse monitor's reads (RedcapRecordMonitor, docs/xnat.md "Sessions without a REDCap record"): which sessions
 * the XNAT sync found first without a REDCap record and whose monitor is still to start, and the monitor's check
 * of one session. One SQL statement each.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { MonitoredSession, RedcapRecordCheck } from '../../surface';
import { NotFoundError } from '../errors';
import { parseSessionId } from '../sessions/ids';

/**
 * Whether the session has its REDCap record, whether none is expected, and whether its monitoring was cancelled.
 * "None expected" is the session marked so (a REDCap link without a record: src/sessions/domain.ts
 * markExpectingNoRecord) or the lab's `no-redcap-expected` dismissal (src/lab-data/dismissals.ts).
 */
const CHECK_SQL = `
  select
    exists (select 1 from session_redcap link where link.session_id = session.id and link.record_id is not null) as record_filed,
    exists (select 1 from session_redcap link where link.session_id = session.id and link.record_id is null)
      or exists (select 1 from session_dismissal dismissal
                   where dismissal.session_id = session.id and dismissal.kind = 'no-redcap-expected') as no_record_expected,
    session.monitors_cancelled_at is not null as cancelled,
    session.monitors_cancel_reason as cancel_reason
  from session where session.id = ?`;

/** Throws NotFoundError for an unknown session. */
export async function redcapRecordCheckOf(em: EntityManager, rawId: string): Promise<RedcapRecordCheck> {
  const { sessionId } = parseSessionId(rawId);
  type Row = { record_filed: boolean; no_record_expected: boolean; cancelled: boolean; cancel_reason: string | null };
  const [row] = await em.getConnection().execute<Row[]>(CHECK_SQL, [sessionId]);
  if (!row) throw new NotFoundError(`No session ${sessionId}`, { sessionId });
  const check: RedcapRecordCheck = { recordFiled: row.record_filed, noRecordExpected: row.no_record_expected };
  if (row.cancelled) check.cancelled = row.cancel_reason ? { reason: row.cancel_reason } : {};
  return check;
}

/** The sessions of an XNAT project whose RedcapRecordMonitor is due (found by the sync, not started yet). */
export async function dueRedcapRecordMonitors(em: EntityManager, projectId: number): Promise<MonitoredSession[]> {
  const rows = await em.getConnection().execute<Array<{ session_id: string; study_id: string; site_id: string }>>(
    `select found.session_id, site.study_id, site.site_id
       from xnat_found_session found
         join xnat_project project on project.id = found.project_id
         join study_site site on site.id = project.study_site_id
       where found.project_id = ? and found.monitor_started_at is null
       order by found.session_id`,
    [projectId],
  );
  return rows.map((row) => ({ sessionId: row.session_id, studyId: row.study_id, siteId: row.site_id }));
}

/** Records that the sessions' RedcapRecordMonitors were started. */
export async function markRedcapRecordMonitorsStarted(
  em: EntityManager,
  sessionIds: string[],
  at: Date,
): Promise<void> {
  if (sessionIds.length === 0) return;
  await em.execute(
    `update xnat_found_session set monitor_started_at = ?
       where monitor_started_at is null and session_id in (select value from json_array_elements_text(?::json))`,
    [at, JSON.stringify(sessionIds)],
  );
}

/** When the sync first found the session in XNAT (without a REDCap record); null when it did not. */
export async function foundInXnatAt(em: EntityManager, sessionId: string): Promise<Date | null> {
  const [row] = await em
    .getConnection()
    .execute<Array<{ found_at: Date }>>(`select found_at from xnat_found_session where session_id = ?`, [sessionId]);
  return row ? new Date(row.found_at) : null;
}

/** Per study site with an XNAT project: the latest upload to it the sync saw (null: none yet), for quiet-site alerts. */
export async function lastXnatUploads(
  em: EntityManager,
): Promise<Array<{ studyId: string; siteId: string; project: string; lastUploadAt: Date | null }>> {
  const rows = await em
    .getConnection()
    .execute<Array<{ study_id: string; site_id: string; project: string; last_upload_at: Date | null }>>(
      `select site.study_id, site.site_id, project.project, project.last_upload_at
       from xnat_project project join study_site site on site.id = project.study_site_id
       order by site.study_id, site.site_id`,
    );
  return rows.map((row) => ({
    studyId: row.study_id,
    siteId: row.site_id,
    project: row.project,
    lastUploadAt: row.last_upload_at ? new Date(row.last_upload_at) : null,
  }));
}
