/**
 * The monitors end to end on the suite's Temporal dev server, with short durations: the email through a real
 * SMTP server, signals sent with the Temporal client, a second start joining the running monitor, a worker
 * process killed in the middle of a wait (the monitor still fires once), a download job that registers its
 * scans through the real HTTP API, and replay of the recorded histories to catch nondeterminism.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { createApp } from '../../src/app';
import { startScanMonitors } from '../../src/temporal/monitors';
import {
  cancelSignal,
  scansArrivedSignal,
  SessionIdAttribute,
  SiteIdAttribute,
  statusQuery,
  type MonitorTarget,
} from '../../surface';
import { HISTORIES_DIR, writeHistory } from '../support/histories';
import { addScan, seedSession, uniqueSessionId } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { eventually, startServiceProcess, type ServiceProcess } from '../support/processes';
import { connectDevServer, devServerAddress, quietTemporalLogs } from '../support/temporal';

const TOKEN = 'dev-server-test-token';
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let lab: MonitorHarness;
let api: Server;
let serial = 0;
/** Completed runs, replayed at the end: [name for the recording, handle]. */
const completed: Array<[string, WorkflowHandle]> = [];

/** download.sh that, when register-<session> exists, registers a scan through the API (as a lab's job does). */
function registeringDownloadJob(apiUrl: string): string {
  return `#!/usr/bin/env bash
dir="$(cd "$(dirname "$0")" && pwd)"
echo "$1 $2" >> "$dir/download.log"
if [ -f "$dir/register-$2" ] && [ "$(grep -c " $2\\$" "$dir/download.log")" -ge 2 ]; then
  curl -fsS -X POST "${apiUrl}/sessions/$2/scans" -H "Authorization: Bearer ${TOKEN}" \\
    -H 'Content-Type: application/json' --data "{\\"name\\":\\"$2_T1_01\\",\\"series\\":1,\\"tag\\":\\"T1\\"}"
fi
`;
}

beforeAll(async () => {
  quietTemporalLogs();
  temporal = await connectDevServer();
  lab = await startMonitorHarness(temporal, {
    env: {
      API_TOKEN: TOKEN,
      SCAN_CHECK_DELAY: '3s',
      DOWNLOAD_WINDOW: '6s',
      DOWNLOAD_RETRY_INITIAL: '1s',
      DOWNLOAD_RETRY_MAX: '2s',
    },
  });
  api = createApp({ config: lab.config, orm: lab.orm, temporal: temporal.client }).listen(0, '127.0.0.1');
  await new Promise((resolve) => api.once('listening', resolve));
  const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  fs.writeFileSync(path.join(lab.jobsDir, 'download.sh'), registeringDownloadJob(apiUrl), { mode: 0o755 });
});

afterAll(async () => {
  await new Promise((resolve) => api?.close(resolve));
  await lab?.close();
  await temporal?.close();
});

beforeEach(() => {
  lab.smtp.messages.length = 0;
});

async function newSession(site = 'ZHH'): Promise<MonitorTarget> {
  serial += 1;
  const sessionId = uniqueSessionId(site, serial);
  await seedSession(lab.orm, sessionId);
  return { sessionId, studyId: 'SPN01', siteId: site, downloadScript: site === 'CMH' ? 'download.sh' : null };
}

const waiting = (handle: WorkflowHandle) =>
  eventually(async () => (await handle.query(statusQuery)).state === 'waiting', `${handle.workflowId} to wait`);

test('no scans: one email through SMTP; a second start joins the running monitor; ops find it by SessionId', async () => {
  const target = await newSession('CMH');
  const first = await startScanMonitors(temporal.client, lab.config, target);
  const second = await startScanMonitors(temporal.client, lab.config, target);
  expect(second).toEqual(first);

  const handle = temporal.client.workflow.getHandle(first.scanImport.workflowId, first.scanImport.runId);
  const description = await handle.describe();
  expect(description.memo).toEqual({
    sessionId: target.sessionId,
    studyId: 'SPN01',
    siteId: 'CMH',
    monitor: 'scan-import',
  });
  expect(description.typedSearchAttributes.get(SessionIdAttribute)).toBe(target.sessionId);
  expect(description.typedSearchAttributes.get(SiteIdAttribute)).toBe('CMH');
  expect(description.raw.executionConfig?.userMetadata?.summary).toBeTruthy();
  expect(await handle.result()).toEqual({ outcome: 'email-sent' });
  completed.push(['scan-import-email-sent', handle]);

  let found: string[] = [];
  await eventually(async () => {
    found = [];
    for await (const wf of temporal.client.workflow.list({ query: `SessionId="${target.sessionId}"` }))
      found.push(wf.workflowId);
    return found.length === 2;
  }, 'both monitors in the visibility store');
  expect(found.sort()).toEqual([`scan-download:${target.sessionId}`, `scan-import:${target.sessionId}`]);

  const download = temporal.client.workflow.getHandle(first.scanDownload!.workflowId);
  expect(await download.result()).toMatchObject({ outcome: 'gave-up' });
  completed.push(['scan-download-gave-up', download]);

  const subjects = lab.smtp.messages.map((m) => m.subject).sort();
  expect(subjects).toEqual([
    `[SPN01] No scan data received for ${target.sessionId}`,
    `[SPN01] Scan download gave up for ${target.sessionId}`,
  ]);
  const noScans = lab.smtp.messages.find((m) => m.subject.startsWith('[SPN01] No scan'))!;
  expect(noScans.to).toEqual(['ada@example.org']);
  expect(noScans.text).toContain('after waiting 3 seconds');
});

test('a retried start keeps the monitors its earlier attempt started, even finished ones; an older run is not kept', async () => {
  const target = await newSession('ZHH');
  await addScan(lab.orm, target.sessionId);
  const since = Date.now() - 1_000;
  const first = await startScanMonitors(temporal.client, lab.config, target);
  const handle = temporal.client.workflow.getHandle(first.scanImport.workflowId, first.scanImport.runId);
  expect(await handle.result()).toEqual({ outcome: 'scans-present' });

  // As the intake's activity retries after its worker died: the finished run is kept, nothing new starts.
  expect(await startScanMonitors(temporal.client, lab.config, target, { keepStartedSince: since })).toEqual(first);
  // A start after it (a later intake, an undo): the finished run is older, so a new one starts.
  const later = await startScanMonitors(temporal.client, lab.config, target, { keepStartedSince: Date.now() });
  expect(later.scanImport.runId).not.toBe(first.scanImport.runId);
  expect(
    await temporal.client.workflow.getHandle(later.scanImport.workflowId, later.scanImport.runId).result(),
  ).toEqual({ outcome: 'scans-present' });
});

test('scansArrived and cancel sent with the Temporal client end the wait', async () => {
  const arrived = await newSession();
  const a = await startScanMonitors(temporal.client, lab.config, arrived);
  const arrivedHandle = temporal.client.workflow.getHandle(a.scanImport.workflowId, a.scanImport.runId);
  await waiting(arrivedHandle);
  await addScan(lab.orm, arrived.sessionId);
  await arrivedHandle.signal(scansArrivedSignal);
  expect(await arrivedHandle.result()).toEqual({ outcome: 'scans-present' });
  completed.push(['scan-import-scans-arrived', arrivedHandle]);

  const cancelled = await newSession();
  const c = await startScanMonitors(temporal.client, lab.config, cancelled);
  const cancelledHandle = temporal.client.workflow.getHandle(c.scanImport.workflowId, c.scanImport.runId);
  await waiting(cancelledHandle);
  await cancelledHandle.signal(cancelSignal, { reason: 'withdrawn' });
  expect(await cancelledHandle.result()).toEqual({ outcome: 'cancelled', cancelReason: 'withdrawn' });
  completed.push(['scan-import-cancelled', cancelledHandle]);
  expect(lab.smtp.messages).toHaveLength(0);
});

test('the download job registers its scans through the API: scansArrived, post-download, downloaded', async () => {
  const target = await newSession('CMH');
  fs.writeFileSync(path.join(lab.jobsDir, `register-${target.sessionId}`), '');
  const started = await startScanMonitors(temporal.client, lab.config, target, {
    downloadEndTime: new Date(Date.now() + 60_000).toISOString(),
  });
  const download = temporal.client.workflow.getHandle(started.scanDownload!.workflowId, started.scanDownload!.runId);
  expect(await download.result()).toEqual({ outcome: 'downloaded', attempts: expect.any(Number) });
  expect(lab.jobRuns('download', target.sessionId)).toBeGreaterThanOrEqual(2);
  expect(lab.jobRuns('post_download', target.sessionId)).toBe(1);
  const scanImport = temporal.client.workflow.getHandle(started.scanImport.workflowId, started.scanImport.runId);
  expect(await scanImport.result()).toEqual({ outcome: 'scans-present' });
  completed.push(['scan-download-downloaded', download]);
  expect(lab.smtp.messages).toHaveLength(0);
});

describe('a worker process killed in the middle of a wait', () => {
  let workers: ServiceProcess[] = [];
  afterAll(async () => {
    for (const worker of workers) await worker.stop('SIGKILL');
  });

  test('the monitor still fires, once: one email', async () => {
    const taskQueue = `restart-${Date.now()}`;
    const env = {
      DATABASE_URL: lab.databaseUrl,
      TEMPORAL_ADDRESS: devServerAddress(),
      TEMPORAL_TASK_QUEUE: taskQueue,
      SMTP_URL: lab.smtp.url,
      SUBMIT_SCRIPTS: lab.jobsDir,
      SCAN_CHECK_DELAY: '5s',
      LOG_LEVEL: 'warn',
    };
    const config = { ...lab.config, taskQueue, durations: { ...lab.config.durations, scanCheckDelayMs: 5_000 } };
    const startWorker = async () => {
      const worker = startServiceProcess('worker', env);
      workers.push(worker);
      // The worker is polling once the first workflow task of a monitor completes; nothing to wait for before.
      return worker;
    };

    const target = await newSession();
    const first = await startWorker();
    const started = await startScanMonitors(temporal.client, config, target);
    const handle = temporal.client.workflow.getHandle(started.scanImport.workflowId, started.scanImport.runId);
    await eventually(
      async () => (await handle.query(statusQuery)).state === 'waiting',
      'the monitor to wait',
      90_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\nworker output:\n${first.output()}`);
    });
    const { nextCheckAt } = await handle.query(statusQuery);

    await first.stop('SIGKILL');
    // While no worker runs: the check time passes, and a second start joins the same run.
    expect(await startScanMonitors(temporal.client, config, target)).toEqual(started);
    await eventually(() => Date.now() > Date.parse(nextCheckAt!) + 1_000, 'the check time to pass');
    expect(lab.smtp.messages).toHaveLength(0);

    const second = await startWorker();
    const result = await handle.result().catch((err) => {
      throw new Error(`${(err as Error).message}\nworker output:\n${second.output()}`);
    });
    expect(result).toEqual({ outcome: 'email-sent' });
    expect(lab.smtp.messages.map((m) => m.subject)).toEqual([`[SPN01] No scan data received for ${target.sessionId}`]);
    await second.stop();
    workers = [];
    completed.push(['scan-import-worker-restarted', handle]);
  }, 180_000);
});

test('the recorded histories of completed runs replay without nondeterminism', async () => {
  expect(completed.length).toBeGreaterThanOrEqual(5);
  const histories = await Promise.all(
    completed.map(async ([, handle]) => ({ workflowId: handle.workflowId, history: await handle.fetchHistory() })),
  );
  const results = [];
  for await (const result of Worker.runReplayHistories(
    { workflowsPath: require.resolve('../../workflows') },
    histories,
  ))
    results.push(result);
  expect(results.map((r) => [r.workflowId, r.error?.message])).toEqual(histories.map((h) => [h.workflowId, undefined]));

  // RECORD_HISTORIES=1 refreshes test/fixtures/histories, which monitor-replay.test.ts replays on every run.
  if (process.env.RECORD_HISTORIES === '1') {
    completed.forEach(([name], i) =>
      writeHistory(path.join(HISTORIES_DIR, `${name}.history.json`), histories[i].history),
    );
  }
}, 120_000);
