/**
 * (d) The lab's view with the sessions of bench/seed.ts in the database (default 50,000; `npm run api` a child
 * process): GET /sessions (a page of 100 filtered by study and state: 250 of 50,000 miss their scans) and
 * GET /studies/:id/outstanding (300 items), p50/p99 at 1 and 16 connections.
 */
import http from 'node:http';
import type { Orm } from '../src/db/orm';
import { fmt, percentile, runFor } from './stats';

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
  durationSeconds: number;
  log: (line: string) => void;
}): Promise<void> {
  const { orm, apiUrl, token, log } = options;
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
