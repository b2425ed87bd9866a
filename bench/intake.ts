/**
 * (a) DET intake: accepted triggers per second and latency through `npm run api` (a child process) at 1, 16
 * and 64 connections, each request a distinct record, against the rate at which a bare Temporal client in
 * this process starts the same workflow type on the same server.
 */
import autocannon from 'autocannon';
import type { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
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

async function apiLevel(apiUrl: string, connections: number, durationSeconds: number) {
  let accepted = 0;
  const result = await autocannon({
    url: apiUrl,
    connections,
    duration: durationSeconds,
    requests: [
      {
        method: 'POST',
        path: '/redcap',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        setupRequest: (request) => ({ ...request, body: triggerBody(nextRecord++) }),
        onResponse: (status) => {
          if (status === 202) accepted++;
        },
      },
    ],
  });
  return {
    perSecond: accepted / durationSeconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    accepted,
    other: result.requests.total - accepted,
  };
}

async function rawLevel(client: Client, taskQueue: string, connections: number, durationSeconds: number) {
  const latencies = await runFor(durationSeconds * 1000, connections, () =>
    client.workflow.start('RedcapIntakeWorkflow', {
      taskQueue,
      workflowId: `bench-raw:${randomUUID()}`,
      args: [{ configId: 1, record: String(nextRecord++), eventName: null }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  );
  return { perSecond: latencies.length / durationSeconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), started: latencies.length };
}

export async function benchIntake(options: {
  apiUrl: string;
  client: Client;
  taskQueue: string;
  durationSeconds: number;
  levels: number[];
  /** Where each result line goes (default: stdout). */
  log?: (line: string) => void;
}): Promise<IntakeFigures[]> {
  const log = options.log ?? ((line: string) => console.log(line));
  const figures: IntakeFigures[] = [];
  // Warm both paths (connections, JIT, the dev server's caches) before measuring.
  await apiLevel(options.apiUrl, 4, 2);
  await rawLevel(options.client, options.taskQueue, 4, 2);
  for (const connections of options.levels) {
    const api = await apiLevel(options.apiUrl, connections, options.durationSeconds);
    const raw = await rawLevel(options.client, options.taskQueue, connections, options.durationSeconds);
    figures.push({ connections, api, raw });
    log(
      `intake c=${String(connections).padStart(2)}: POST /redcap ${fmt(api.perSecond)}/s accepted (p50 ${fmt(api.p50)} ms, p99 ${fmt(api.p99)} ms, ${api.other} not 202)` +
        ` | bare client start ${fmt(raw.perSecond)}/s (p50 ${fmt(raw.p50)} ms, p99 ${fmt(raw.p99)} ms)` +
        ` | ratio ${fmt(api.perSecond / raw.perSecond, 2)}`,
    );
  }
  return figures;
}
