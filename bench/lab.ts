/**
 * (d) The lab's view with N sessions in the database (default 50,000; `npm run api` a child process): GET /sessions
 * (a page of 100 filtered by study and state) and GET /studies/:id/outstanding, p50/p99 at 1 and 16 connections.
 * Also the time src/lab-data/state.ts takes to give all N their state. The sessions are written with SQL, as a lab's
 * years of sessions look: 80% with scans, 10% no scans expected, 9.4% waiting, 0.5% missing scans (250 of 50,000 in
 * the filtered state; the page is 100) and 0.1% scans without a REDCap record: an outstanding list of 300.
 */
import http from 'node:http';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../src/db/orm';
import { refreshSessionStates } from '../src/lab-data/state';
import { fmt, percentile, runFor } from './stats';

const DAY = 86_400_000;

/** What session i gets: the facts that make its state. */
function kindOf(i: number): 'scans' | 'empty' | 'waiting' | 'missing' | 'unlogged' {
  const n = i % 1000;
  return n < 800 ? 'scans' : n < 900 ? 'empty' : n < 994 ? 'waiting' : n < 999 ? 'missing' : 'unlogged';
}

export async function seed(orm: Orm, count: number, redcapConfigId: number): Promise<void> {
  const sql = (query: string, params: unknown[] = []) => orm.em.fork().getConnection().execute(query, params);
  const rows = JSON.stringify(
    Array.from({ length: count }, (_, i) => ({
      id: `SPN01_${i % 2 ? 'ZHH' : 'CMH'}_L${String(i).padStart(6, '0')}_01_01`,
      site: i % 2 ? 'ZHH' : 'CMH',
      date: new Date(Date.UTC(2025, 0, 1) + (i % 700) * DAY).toISOString().slice(0, 10),
      kind: kindOf(i),
      i,
    })),
  );
  const from = `from json_to_recordset(?::json) r(id text, site text, date text, kind text, i int)`;
  await sql(
    `insert into timepoint (id, site_id, is_phantom) select left(r.id, length(r.id) - 3), r.site, false ${from}`,
    [rows],
  );
  await sql(
    `insert into session (id, timepoint_id, num, date) select r.id, left(r.id, length(r.id) - 3), 1, r.date::date ${from}`,
    [rows],
  );
  await sql(
    `insert into redcap_record (config_id, record, event_name, repeat_instance, entry_date, comment, session_name, created_at)
     select ?, 'L' || r.i, '', 0, r.date::date, '', r.id, now() ${from} where r.kind <> 'unlogged'`,
    [redcapConfigId, rows],
  );
  await sql(
    `insert into session_redcap (session_id, record_id) select session_name, id from redcap_record where record like 'L%'`,
  );
  await sql(
    `insert into scan (session_id, name, series, tag, created_at)
     select r.id, r.id || '_T1_' || n, n, 'T1', now() - make_interval(days => r.i % 30)
     ${from} cross join generate_series(1, 2) n where r.kind in ('scans', 'unlogged')`,
    [rows],
  );
  await sql(
    `insert into sent_email (key, kind, session_id, subject, recipients, status, attempts, created_at, sent_at)
     select 'bench:' || r.id || ':no-scans', 'no-scans', r.id, 's', 'a@example.org', 'sent', 1, now(),
            now() - make_interval(days => r.i % 30) ${from} where r.kind = 'missing'`,
    [rows],
  );
  await sql(
    `insert into empty_session (session_id, comment, created_at) select r.id, 'withdrew', now() ${from} where r.kind = 'empty'`,
    [rows],
  );
  await sql('analyze');
}

/** GETs `path` over a kept-alive connection of `agent`; resolves with the status code once the body is read. */
function get(url: string, agent: http.Agent, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, headers: { authorization: `Bearer ${token}` } }, (response) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode ?? 0));
      response.once('error', reject);
    });
    request.once('error', reject);
  });
}

export async function benchLab(options: {
  orm: Orm;
  apiUrl: string;
  token: string;
  redcapConfigId: number;
  count: number;
  durationSeconds: number;
  log: (line: string) => void;
}): Promise<void> {
  const { orm, apiUrl, token, count, log } = options;
  const seeding = performance.now();
  await seed(orm, count, options.redcapConfigId);
  const ids = (
    await orm.em.fork().getConnection().execute<Array<{ id: string }>>(`select id from session where id like '%\\_L%'`)
  ).map((row) => row.id);
  const refreshing = performance.now();
  await refreshSessionStates(orm.em.fork() as EntityManager, ids);
  const refreshSeconds = (performance.now() - refreshing) / 1000;
  log(
    `lab: ${count} sessions written in ${fmt((refreshing - seeding) / 1000)} s; their states given by the refresh in ` +
      `${fmt(refreshSeconds)} s (${fmt(count / refreshSeconds, 0)} sessions/s)`,
  );
  const [{ missing }] = await orm.em
    .fork()
    .getConnection()
    .execute(`select count(*)::int as missing from session where study_id = 'SPN01' and state = 'missing-scans'`);

  const routes = [
    {
      what: `GET /sessions?study=SPN01&state=missing-scans&limit=100 (of ${missing})`,
      path: '/sessions?study=SPN01&state=missing-scans&limit=100',
    },
    { what: 'GET /studies/SPN01/outstanding', path: '/studies/SPN01/outstanding' },
  ];
  for (const route of routes) {
    for (const connections of [1, 16]) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
      const statuses = new Map<number, number>();
      const latencies = await runFor(options.durationSeconds * 1000, connections, async () => {
        const status = await get(`${apiUrl}${route.path}`, agent, token);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      });
      agent.destroy();
      const other = [...statuses].filter(([status]) => status !== 200);
      log(
        `lab: ${route.what}, ${connections} connection${connections === 1 ? '' : 's'}: ` +
          `p50 ${fmt(percentile(latencies, 50))} ms, p99 ${fmt(percentile(latencies, 99))} ms, ` +
          `${fmt(latencies.length / options.durationSeconds, 0)} req/s` +
          (other.length ? ` (not 200: ${other.map(([s, n]) => `${s} ×${n}`).join(', ')})` : ''),
      );
    }
  }
}
