/**
 * Download jobs run by the worker (SUBMIT_COMMAND=bash) on the suite's dev server, with a real API the jobs
 * register their scans through: `scansArrived` from the job's own first scan never stops it, and the post-download
 * job runs once it has ended, on all its scans. JOB_SLOTS=1: a long job holds the one job slot, and the short
 * activities (checks, the email) do not wait for it.
 */
import fs from 'node:fs';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import { createApp } from '../../src/app';
import { JobRun } from '../../src/db/job-run';
import { recordMonitorsCancelled } from '../../src/sessions/cancel';
import { startScanMonitors } from '../../src/temporal/monitors';
import { cancelSignal, statusQuery, type MonitorTarget } from '../../surface';
import { seedSession, uniqueSessionId } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';
import { connectDevServer, quietTemporalLogs } from '../support/temporal';

const TOKEN = 'download-jobs-token';
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let lab: MonitorHarness;
let api: Server;
let serial = 0;
const started: string[] = [];

/**
 * download.sh: logs `start`, then, when `two-scans-<session>` exists, registers one scan, waits for
 * `release-<session>` and registers a second; when `block-<session>` exists it waits for the release; logs `end`.
 * post_download.sh logs how many scans the API shows for the session.
 */
function jobs(apiUrl: string): Record<string, string> {
  const common = `dir="$(cd "$(dirname "$0")" && pwd)"
log() { echo "$1" >> "$dir/events-$2.log"; }
auth="Authorization: Bearer ${TOKEN}"
`;
  return {
    'download.sh': `#!/usr/bin/env bash
${common}
register() {
  curl -fsS -o /dev/null -X POST "${apiUrl}/sessions/$2/scans" -H "$auth" -H 'Content-Type: application/json' \\
    --data "{\\"name\\":\\"$2_$1\\",\\"series\\":$3,\\"tag\\":\\"$1\\"}"
}
log start "$2"
if [ -f "$dir/two-scans-$2" ]; then
  register T1 "$2" 1; log registered-1 "$2"
  while [ ! -f "$dir/release-$2" ]; do sleep 0.2; done
  register T2 "$2" 2; log registered-2 "$2"
fi
if [ -f "$dir/block-$2" ]; then while [ ! -f "$dir/release-$2" ]; do sleep 0.2; done; fi
log end "$2"
`,
    'post_download.sh': `#!/usr/bin/env bash
${common}
log "post-download scans=$(curl -fsS "${apiUrl}/sessions/$2" -H "$auth" | grep -o '"series"' | wc -l)" "$2"
`,
  };
}

beforeAll(async () => {
  quietTemporalLogs();
  temporal = await connectDevServer();
  lab = await startMonitorHarness(temporal, {
    env: {
      API_TOKEN: TOKEN,
      JOB_SLOTS: '1',
      SCAN_CHECK_DELAY: '2s',
      DOWNLOAD_WINDOW: '10 minutes',
      DOWNLOAD_RETRY_INITIAL: '1s',
      DOWNLOAD_RETRY_MAX: '2s',
    },
  });
  api = createApp({ config: lab.config, orm: lab.orm, temporal: temporal.client }).listen(0, '127.0.0.1');
  await new Promise((resolve) => api.once('listening', resolve));
  const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  for (const [name, text] of Object.entries(jobs(apiUrl)))
    fs.writeFileSync(path.join(lab.jobsDir, name), text, { mode: 0o755 });
});

afterAll(async () => {
  for (const workflowId of started)
    await temporal.client.workflow
      .getHandle(workflowId)
      .signal(cancelSignal, { reason: 'test done' })
      .catch(() => undefined);
  await new Promise((resolve) => api?.close(resolve));
  await lab?.close();
  await temporal?.close();
});

async function newSession(site: 'CMH' | 'ZHH', ...markers: string[]): Promise<MonitorTarget> {
  serial += 1;
  const sessionId = uniqueSessionId(site, serial);
  await seedSession(lab.orm, sessionId);
  for (const marker of markers) fs.writeFileSync(path.join(lab.jobsDir, `${marker}-${sessionId}`), '');
  return { sessionId, studyId: 'SPN01', siteId: site, downloadScript: site === 'CMH' ? 'download.sh' : null };
}

async function start(target: MonitorTarget) {
  const monitors = await startScanMonitors(temporal.client, lab.config, target);
  started.push(monitors.scanImport.workflowId, ...(monitors.scanDownload ? [monitors.scanDownload.workflowId] : []));
  return monitors;
}

const events = (sessionId: string): string[] => {
  const file = path.join(lab.jobsDir, `events-${sessionId}.log`);
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : [];
};
const release = (sessionId: string) => fs.writeFileSync(path.join(lab.jobsDir, `release-${sessionId}`), '');

test('the job registers its first scan (scansArrived) and keeps running; the post-download job runs once it has ended, on both scans', async () => {
  const target = await newSession('CMH', 'two-scans');
  const monitors = await start(target);
  const download = temporal.client.workflow.getHandle(monitors.scanDownload!.workflowId, monitors.scanDownload!.runId);
  await eventually(() => events(target.sessionId).includes('registered-1'), 'the first scan registered by the job');
  // The first scan signalled scansArrived, which asks the running attempt to stop; the attempt lets the job run on.
  await eventually(
    async () =>
      (await lab.orm.em.fork().findOne(JobRun, { sessionId: target.sessionId, status: 'running' }))?.detail?.includes(
        'scansArrived',
      ) ?? false,
    'the attempt to hear of scansArrived',
  );
  expect(events(target.sessionId)).toEqual(['start', 'registered-1']);
  expect((await download.query(statusQuery)).state).toBe('downloading');

  release(target.sessionId);
  expect(await download.result()).toEqual({ outcome: 'downloaded', attempts: expect.any(Number) });
  expect(events(target.sessionId)).toEqual(['start', 'registered-1', 'registered-2', 'end', 'post-download scans=2']);
  expect(
    (await lab.orm.em.fork().find(JobRun, { sessionId: target.sessionId }, { orderBy: { id: 'asc' } })).map((r) => [
      r.kind,
      r.status,
    ]),
  ).toEqual([
    ['download', 'succeeded'],
    ['post-download', 'succeeded'],
  ]);
});

test('one job slot, held by a long job: a second download waits for the slot, and a check and an email do not', async () => {
  const long = await newSession('CMH', 'block');
  const waiting = await newSession('CMH');
  const emailed = await newSession('ZHH');
  await start(long);
  await eventually(() => events(long.sessionId).includes('start'), 'the long job to start');
  await start(waiting);
  const startedAt = Date.now();
  const importMonitor = await start(emailed);

  // The import monitor's check, wait (2 s) and email run while the job slot is taken.
  const handle = temporal.client.workflow.getHandle(
    importMonitor.scanImport.workflowId,
    importMonitor.scanImport.runId,
  );
  expect(await handle.result()).toEqual({ outcome: 'email-sent' });
  const mail = lab.smtp.messages.find((m) => m.subject.includes(emailed.sessionId));
  expect(mail).toBeDefined();
  expect(events(long.sessionId)).toEqual(['start']);
  expect(events(waiting.sessionId)).toEqual([]); // its attempt waits for the slot
  console.log(
    `measure: one job slot held by a running job: the import monitor emailed ${Date.now() - startedAt - 2_000} ms after its 2 s wait`,
  );

  release(long.sessionId);
  await eventually(() => events(waiting.sessionId).includes('start'), 'the waiting download to get the slot');
  expect(events(long.sessionId).slice(0, 2)).toEqual(['start', 'end']); // (no scans: it is retried, and takes turns for the slot)
});

describe('the end time passes in the middle of things: the monitor gives up with its email, never fails', () => {
  const gaveUpMail = (sessionId: string) =>
    lab.smtp.messages.filter((m) => m.subject === `[SPN01] Scan download gave up for ${sessionId}`);

  // The one job slot is for these tests' jobs: the monitors of the tests above end now.
  beforeAll(async () => {
    for (const workflowId of started.splice(0))
      await temporal.client.workflow
        .getHandle(workflowId)
        .signal(cancelSignal, { reason: 'next test' })
        .catch(() => undefined);
  });

  test('while its job runs: the job is stopped, gave-up, one email (the attempt ends in a ScheduleToClose timeout)', async () => {
    const target = await newSession('CMH', 'block');
    const monitors = await startScanMonitors(temporal.client, lab.config, target, {
      downloadEndTime: new Date(Date.now() + 20_000).toISOString(),
    });
    started.push(monitors.scanImport.workflowId, monitors.scanDownload!.workflowId);
    await eventually(() => events(target.sessionId).includes('start'), 'the job to start');
    const download = temporal.client.workflow.getHandle(
      monitors.scanDownload!.workflowId,
      monitors.scanDownload!.runId,
    );
    try {
      expect(await download.result()).toEqual({ outcome: 'gave-up', attempts: 1 });
      expect(gaveUpMail(target.sessionId)).toHaveLength(1);
      await eventually(
        async () =>
          (await lab.orm.em.fork().findOne(JobRun, { sessionId: target.sessionId, kind: 'download' }))?.status ===
          'interrupted',
        'the job to be stopped',
      );
      expect(events(target.sessionId)).toEqual(['start']);
    } finally {
      release(target.sessionId);
    }
  });

  test('a cancel recorded on the session while the last attempt ran (no signal): no gave-up email, cancelled', async () => {
    const target = await newSession('CMH', 'block');
    // The next attempt would come after the end time: the running one is the last.
    const config = {
      ...lab.config,
      durations: { ...lab.config.durations, downloadRetryInitialMs: 600_000, downloadRetryMaxMs: 600_000 },
    };
    const monitors = await startScanMonitors(temporal.client, config, target, {
      downloadEndTime: new Date(Date.now() + 60_000).toISOString(),
    });
    started.push(monitors.scanImport.workflowId, monitors.scanDownload!.workflowId);
    await eventually(() => events(target.sessionId).includes('start'), 'the job to start');
    // As when Temporal could not be reached to signal the cancel: recorded on the session only.
    await recordMonitorsCancelled(lab.orm.em.fork() as EntityManager, target.sessionId, 'withdrawn meanwhile');
    release(target.sessionId);
    const download = temporal.client.workflow.getHandle(
      monitors.scanDownload!.workflowId,
      monitors.scanDownload!.runId,
    );
    expect(await download.result()).toEqual({ outcome: 'cancelled', attempts: 1 }); // the reason stays in PostgreSQL
    expect(events(target.sessionId)).toEqual(['start', 'end']);
    expect(gaveUpMail(target.sessionId)).toHaveLength(0);
  });

  test('while no worker runs: gave-up and one email once a worker is back', async () => {
    const target = await newSession('CMH');
    const endMs = Date.now() + 15_000;
    const monitors = await startScanMonitors(temporal.client, lab.config, target, {
      downloadEndTime: new Date(endMs).toISOString(),
    });
    started.push(monitors.scanImport.workflowId, monitors.scanDownload!.workflowId);
    await eventually(() => events(target.sessionId).includes('end'), 'the first job to run');
    await lab.stopWorker();
    try {
      await eventually(() => Date.now() > endMs + 2_000, 'the end time to pass', 60_000);
      expect(gaveUpMail(target.sessionId)).toHaveLength(0);
    } finally {
      await lab.startWorker();
    }
    const download = temporal.client.workflow.getHandle(
      monitors.scanDownload!.workflowId,
      monitors.scanDownload!.runId,
    );
    const result = await download.result();
    expect(result).toEqual({ outcome: 'gave-up', attempts: expect.any(Number) });
    expect(result.attempts).toBeGreaterThanOrEqual(1);
    expect(result.attempts).toBeLessThanOrEqual(events(target.sessionId).filter((e) => e === 'start').length);
    expect(gaveUpMail(target.sessionId)).toHaveLength(1);
  });
});
