/**
 * (d) The lab's pages through `npm run api` (a child process), logged in with the API token: the study page and a
 * session page (one missing its scans) with the sessions of bench/seed.ts in the database, at 1 and 16 connections.
 * The session page also asks Temporal for its monitors (none run here: "not found" answers).
 */
import http from 'node:http';
import type { SeededSessions } from './seed';
import { fmt, percentile, runFor } from './stats';

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
  apiUrl: string;
  token: string;
  seeded: SeededSessions;
  durationSeconds: number;
  levels: number[];
  log: (line: string) => void;
}): Promise<void> {
  const print = (text: string) => options.log(`pages: ${text}`);
  const cookie = await logIn(options.apiUrl, options.token);
  const session = options.seeded.missingSession;
  print(`${options.seeded.count} sessions in the database`);
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
