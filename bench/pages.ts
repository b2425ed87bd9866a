/**
 * (d) The lab's pages through `npm run api` (a child process), logged in with the API token: the study page and a
 * session page with `count` sessions in the database (one study, two sites, nine in ten with scans), at 1 and 16
 * connections. The session page also asks Temporal for its monitors (none run here: two "not found" answers).
 */
import http from 'node:http';
import type { Orm } from '../src/db/orm';
import { fmt, percentile, runFor } from './stats';

/** `count` sessions of SPN01 (two in three at CMH), a day apart going back, each with its REDCap record. */
export async function seedSessions(orm: Orm, count: number, redcapConfigId: number): Promise<void> {
  const sql = orm.em.getConnection();
  const series = `from generate_series(1, ?) i, lateral (select case when i % 3 = 0 then 'ZHH' else 'CMH' end as site,
                    current_date - (i % 730) as day, 'SPN01_' || (case when i % 3 = 0 then 'ZHH' else 'CMH' end)
                    || '_P' || (100000 + i) || '_01' as timepoint) s`;
  await sql.execute(`insert into timepoint (id, site_id, is_phantom) select timepoint, site, false ${series}`, [count]);
  await sql.execute(`insert into study_timepoint (timepoint_id, study_id) select timepoint, 'SPN01' ${series}`, [
    count,
  ]);
  await sql.execute(
    `insert into session (id, timepoint_id, num, date, monitors_started_at)
       select timepoint || '_01', timepoint, 1, day, day::timestamptz ${series}`,
    [count],
  );
  await sql.execute(
    `insert into redcap_record (config_id, record, event_name, entry_date, comment, session_name, created_at)
       select ?, 'P' || (100000 + i), '', day, 'scanned', timepoint || '_01', now() ${series}`,
    [redcapConfigId, count],
  );
  await sql.execute(
    `insert into session_redcap (session_id, record_id)
       select session_name, id from redcap_record where record like 'P%' and session_name like 'SPN01\\_%\\_P%'`,
  );
  await sql.execute(
    `insert into scan (session_id, name, series, tag, description, created_at)
       select timepoint || '_01', timepoint || '_01_T1_0' || n, n, 'T1', 'bench', day::timestamptz + interval '1 day'
       ${series}, generate_series(1, 2) n where i % 10 <> 0`,
    [count],
  );
  await sql.execute('analyze');
}

/** A login to the pages with the API token: the cookie to send. */
async function logIn(apiUrl: string, token: string): Promise<string> {
  const page = await fetch(`${apiUrl}/lab/login`);
  const pending = page.headers.get('set-cookie')!.split(';')[0];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1];
  const login = await fetch(`${apiUrl}/lab/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: pending, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, token }).toString(),
  });
  if (login.status !== 303) throw new Error(`token login: ${login.status} ${await login.text()}`);
  return login.headers.get('set-cookie')!.split(';')[0];
}

function getPage(url: string, agent: http.Agent, cookie: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers: { cookie } }, (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
        response.once('error', reject);
      })
      .once('error', reject);
  });
}

export async function benchPages(options: {
  orm: Orm;
  apiUrl: string;
  token: string;
  redcapConfigId: number;
  count: number;
  durationSeconds: number;
  levels: number[];
  log: (line: string) => void;
}): Promise<void> {
  const print = (text: string) => options.log(`pages: ${text}`);
  const seeding = performance.now();
  await seedSessions(options.orm, options.count, options.redcapConfigId);
  print(`${options.count} sessions with records and scans seeded in ${fmt((performance.now() - seeding) / 1000)} s`);
  const cookie = await logIn(options.apiUrl, options.token);
  const session = `SPN01_CMH_P${100000 + 1}_01_01`;
  for (const [name, path] of [
    ['study page', '/lab/studies/SPN01'],
    ['session page', `/lab/sessions/${session}`],
  ]) {
    for (const connections of options.levels) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
      const statuses = new Map<number, number>();
      const call = async () => {
        const status = await getPage(`${options.apiUrl}${path}`, agent, cookie);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      };
      await runFor(2_000, connections, call); // warm up
      statuses.clear();
      const latencies = await runFor(options.durationSeconds * 1000, connections, call);
      agent.destroy();
      const other = [...statuses].filter(([status]) => status !== 200);
      print(
        `${name} (${path}), ${connections} connection${connections === 1 ? '' : 's'}: ` +
          `${fmt(latencies.length / options.durationSeconds)}/s, p50 ${fmt(percentile(latencies, 50))} ms, ` +
          `p99 ${fmt(percentile(latencies, 99))} ms` +
          (other.length > 0 ? ` (not 200: ${other.map(([s, n]) => `${s} ×${n}`).join(', ')})` : ''),
      );
    }
  }
}
