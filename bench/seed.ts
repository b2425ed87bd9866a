/**
 * The sessions the lab's view (bench/lab.ts) and the lab's pages (bench/pages.ts) are measured on: `count` sessions of
 * SPN01, written with SQL as a lab's two years of sessions look. Two in three at CMH, one a day apart going back
 * (the newest today), each with its REDCap record but one in a thousand. 80% with scans (two, a day after the scan
 * date), 10% no scans expected, 9.4% waiting, 0.5% missing scans (their no-scans email sent) and 0.1% scans without a
 * REDCap record: an outstanding list of 300 in 50,000. src/lab-data/state.ts then gives every session its state, as
 * the service does when a fact changes.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../src/db/orm';
import { refreshSessionStates } from '../src/lab-data/state';

export interface SeededSessions {
  count: number;
  /** Seconds to write them, and for the refresh to give all of them their state. */
  writeSeconds: number;
  refreshSeconds: number;
  /** A session missing its scans (REDCap record, the no-scans email, no scan): the session page measured. */
  missingSession: string;
}

/** Session i's kind (per thousand): the facts that make its state. */
const KIND = `case when i % 1000 < 800 then 'scans' when i % 1000 < 900 then 'empty' when i % 1000 < 994 then 'waiting'
                   when i % 1000 < 999 then 'missing' else 'unlogged' end`;
const SITE = (i: string) => `case when ${i} % 3 = 0 then 'ZHH' else 'CMH' end`;
const sessionIdOf = (i: number) => `SPN01_${i % 3 === 0 ? 'ZHH' : 'CMH'}_L${String(i).padStart(6, '0')}_01_01`;

export async function seedSessions(orm: Orm, count: number, redcapConfigId: number): Promise<SeededSessions> {
  const sql = (query: string, params: unknown[] = []) => orm.em.fork().getConnection().execute(query, params);
  const writing = performance.now();
  // The rows' facts, in a table for the seeding only (each statement below may run on another pooled connection).
  await sql(
    `create table bench_seed_rows as
     select i, ${SITE('i')} as site, current_date - (i % 730) as day, ${KIND} as kind,
            'SPN01_' || ${SITE('i')} || '_L' || lpad(i::text, 6, '0') || '_01' as timepoint
     from generate_series(1, ?) i`,
    [count],
  );
  const from = 'from bench_seed_rows b';
  await sql(`insert into timepoint (id, site_id, is_phantom) select b.timepoint, b.site, false ${from}`);
  await sql(`insert into study_timepoint (timepoint_id, study_id) select b.timepoint, 'SPN01' ${from}`);
  await sql(
    `insert into session (id, timepoint_id, num, date, monitors_started_at)
     select b.timepoint || '_01', b.timepoint, 1, b.day, b.day::timestamptz ${from}`,
  );
  await sql(
    `insert into redcap_record (config_id, record, event_name, repeat_instance, entry_date, comment, session_name, created_at)
     select ?, 'L' || b.i, '', 0, b.day, 'scanned', b.timepoint || '_01', b.day::timestamptz ${from}
     where b.kind <> 'unlogged'`,
    [redcapConfigId],
  );
  await sql(
    `insert into session_redcap (session_id, record_id)
     select r.session_name, r.id from redcap_record r where r.config_id = ? and r.record like 'L%'`,
    [redcapConfigId],
  );
  await sql(
    `insert into scan (session_id, name, series, tag, description, created_at)
     select b.timepoint || '_01', b.timepoint || '_01_T1_0' || n, n, 'T1', 'bench',
            least(now(), b.day::timestamptz + interval '1 day') ${from} cross join generate_series(1, 2) n
     where b.kind in ('scans', 'unlogged')`,
  );
  await sql(
    `insert into sent_email (key, kind, session_id, subject, recipients, status, attempts, created_at, sent_at)
     select 'bench:' || b.timepoint || ':no-scans', 'no-scans', b.timepoint || '_01', 's', 'a@example.org', 'sent', 1,
            least(now(), b.day::timestamptz + interval '2 days'), least(now(), b.day::timestamptz + interval '2 days')
     ${from} where b.kind = 'missing'`,
  );
  await sql(
    `insert into empty_session (session_id, comment, created_at)
     select b.timepoint || '_01', 'withdrew', now() ${from} where b.kind = 'empty'`,
  );
  const ids = ((await sql(`select b.timepoint || '_01' as id ${from}`)) as Array<{ id: string }>).map((row) => row.id);
  await sql('drop table bench_seed_rows');
  await sql('analyze');
  const refreshing = performance.now();
  await refreshSessionStates(orm.em.fork() as EntityManager, ids);
  const refreshSeconds = (performance.now() - refreshing) / 1000;
  await sql('analyze');
  return {
    count,
    writeSeconds: (refreshing - writing) / 1000,
    refreshSeconds,
    // 994 is the first of each thousand that misses its scans.
    missingSession: sessionIdOf(994),
  };
}
