/**
 * The monitors' check (ScanImportWorkflow runs it on every wake-up): does the session still miss its scans, and was
 * its monitoring cancelled? One SQL statement over the session's own rows, not the entity graph (findSession
 * populates seven relations and builds an entity for each row). The rule: a REDCap record, no scans, and not
 * marked as never getting any.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { NotFoundError } from '../errors';
import type { ScanCheck } from '../../surface';
import { parseSessionId } from './ids';

const CHECK_SQL = `
  select
    (select count(*) from scan where scan.session_id = session.id)::int as scans,
    exists (select 1 from session_redcap link where link.session_id = session.id and link.record_id is not null) as has_record,
    exists (select 1 from empty_session empty where empty.session_id = session.id) as marked_empty,
    session.monitors_cancelled_at is not null as cancelled
  from session where session.id = ?`;

/** Throws NotFoundError (404) for an unknown session, InvalidSessionIdError for an id that fits no convention. */
export async function checkSessionScans(em: EntityManager, rawId: string): Promise<ScanCheck> {
  const { sessionId } = parseSessionId(rawId);
  type Row = {
    scans: number;
    has_record: boolean;
    marked_empty: boolean;
    cancelled: boolean;
  };
  const [row] = await em.getConnection().execute<Row[]>(CHECK_SQL, [sessionId]);
  if (!row) throw new NotFoundError(`No session ${sessionId}`, { sessionId });
  const check: ScanCheck = { missingScans: row.has_record && row.scans === 0 && !row.marked_empty, scans: row.scans };
  // That it was cancelled, not why: the result is in the monitor's history, the reason a person typed is not.
  if (row.cancelled) check.cancelled = {};
  return check;
}
