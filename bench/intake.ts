/**
 * (a) DET intake: accepted triggers per second and latency through `npm run api` (a child process) at 1, 16
 * and 64 connections, each request a distinct record, against the rate at which a bare Temporal client in
 * this process starts the same workflow type on the same server. The two are measured by the same loop, in
 * alternating slices (API, bare, bare, API, …), so that a change in the machine's load falls on both.
 */
import http from 'node:http';
import type { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { REDCAP_INTAKE_WORKFLOW } from '../surface';
import { fmt, percentile, runFor } from './stats';

export interface IntakeFigures {
  connections: number;
  api: { perSecond: number; p50: number; p99: number; accepted: number; other: number };
  raw: { perSecond: number; p50: number; p99: number; started: number };
}

let nextRecord = 100_000;

function triggerBody(record: number): string {
  return new URLSearchParams({
    redcap_url: 'https://redcap.example.org/',
    project_url: 'https://redcap.example.org/redcap_v14.5.2/index.php?pid=1234',
    project_id: '1234',
    username: 'bench',
    record: String(record),
    instrument: 'mri_scan_log',
    mri_scan_log_complete: '2',
  }).toString();
}

/** POSTs one trigger over a kept-alive connection of `agent`; resolves with the status code. */
function postTrigger(apiUrl: string, agent: http.Agent): Promise<number> {
  const body = triggerBody(nextRecord++);
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${apiUrl}/redcap`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
        response.once('error', reject);
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}

interface Slices {
  latencies: number[];
  ok: number;
  /** What the calls that were not accepted got: a status code or an error code, and how many times. */
  others: Map<string, number>;
  seconds: number;
}

const emptySlices = (): Slices => ({ latencies: [], ok: 0, others: new Map(), seconds: 0 });

/** One call: true when accepted, else what it got instead. */
type Call = () => Promise<true | string>;

async function slice(into: Slices, connections: number, seconds: number, call: Call): Promise<void> {
  const latencies = await runFor(seconds * 1000, connections, async () => {
    const outcome = await call();
    if (outcome === true) into.ok++;
    else into.others.set(outcome, (into.others.get(outcome) ?? 0) + 1);
  });
  into.latencies.push(...latencies);
  into.seconds += seconds;
}

/** ` (503 ×2, ECONNRESET ×1)`, or nothing when every call was accepted. */
const notAccepted = (others: Map<string, number>) =>
  others.size === 0 ? '' : ` (${[...others].map(([what, times]) => `${what} ×${times}`).join(', ')})`;

export async function benchIntake(options: {
  apiUrl: string;
  client: Client;
  taskQueue: string;
  durationSeconds: number;
  levels: number[];
  /** Slices per side and level (default 5). */
  slices?: number;
  /** Where each result line goes (bench/stats.ts printer: cores and server kind first). */
  log: (line: string) => void;
}): Promise<IntakeFigures[]> {
  const print = (text: string) => options.log(`intake: ${text}`);
  const slices = options.slices ?? 5;
  const figures: IntakeFigures[] = [];
  // A request that fails (e.g. a keep-alive socket the server closed as it was reused) counts as not 202.
  const viaApi =
    (agent: http.Agent): Call =>
    () =>
      postTrigger(options.apiUrl, agent).then(
        (status) => status === 202 || String(status),
        (err: NodeJS.ErrnoException) => err.code ?? err.message,
      );
  const bare: Call = () =>
    options.client.workflow
      .start(REDCAP_INTAKE_WORKFLOW, {
        taskQueue: options.taskQueue,
        workflowId: `bench-raw:${randomUUID()}`,
        args: [{ configId: 1, record: String(nextRecord++), eventName: null }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      })
      .then(() => true as const);

  for (const connections of options.levels) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    // Warm both paths (connections, JIT, the servers' caches) before measuring.
    await slice(emptySlices(), connections, 2, viaApi(agent));
    await slice(emptySlices(), connections, 2, bare);
    const api = emptySlices();
    const raw = emptySlices();
    const seconds = options.durationSeconds / slices;
    for (let i = 0; i < slices; i++) {
      const order: Array<[Slices, Call]> = [
        [api, viaApi(agent)],
        [raw, bare],
      ];
      for (const [into, call] of i % 2 === 0 ? order : order.reverse()) await slice(into, connections, seconds, call);
    }
    agent.destroy();
    api.latencies.sort((a, b) => a - b);
    raw.latencies.sort((a, b) => a - b);
    const figure: IntakeFigures = {
      connections,
      api: {
        perSecond: api.ok / api.seconds,
        p50: percentile(api.latencies, 50),
        p99: percentile(api.latencies, 99),
        accepted: api.ok,
        other: [...api.others.values()].reduce((a, b) => a + b, 0),
      },
      raw: {
        perSecond: raw.ok / raw.seconds,
        p50: percentile(raw.latencies, 50),
        p99: percentile(raw.latencies, 99),
        started: raw.ok,
      },
    };
    figures.push(figure);
    print(
      `c=${String(connections).padStart(2)}: POST /redcap ${fmt(figure.api.perSecond)}/s accepted (p50 ${fmt(figure.api.p50)} ms, p99 ${fmt(figure.api.p99)} ms, ${figure.api.other} not 202${notAccepted(api.others)})` +
        ` | bare client start ${fmt(figure.raw.perSecond)}/s (p50 ${fmt(figure.raw.p50)} ms, p99 ${fmt(figure.raw.p99)} ms)` +
        ` | rate ratio ${fmt(figure.api.perSecond / figure.raw.perSecond, 2)}, p99 ratio ${fmt(figure.api.p99 / figure.raw.p99, 2)}`,
    );
  }
  return figures;
}
