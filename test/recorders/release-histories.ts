/**
 * Not a test (npm test never runs it): records test/fixtures/histories/release-<RECORD_RELEASE>/: workflows of a frozen release
 * (test/fixtures/releases/<version>/workflows) stopped mid-flight, as labs have them running when the next
 * release is deployed. Runs on the suite's real servers (dev server, PostgreSQL) with real activities, a real
 * SMTP server and a fake REDCap; each history is fetched with handle.fetchHistory() while the workflow is in
 * the state named, and the workflow is then terminated.
 *
 *   RECORD_RELEASE=0.1.0 npx jest --testMatch '<rootDir>/test/recorders/release-histories.ts'
 *
 * Refuses to write where histories already are: they stand for
 * monitors running in labs and are never re-recorded (see the README beside them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { createActivities } from '../../activities';
import { RedcapConfig } from '../../src/db/entities';
// Signal and query names are the public contract, the same in every release.
import { scansArrivedSignal, statusQuery } from '../fixtures/releases/0.1.0/workflows/definitions';
import { FakeRedcap } from '../support/fake-redcap';
import { HISTORIES_DIR, writeHistory } from '../support/histories';
import { addScan, seedSession, uniqueSessionId } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { freePort } from '../support/ports';
import { eventually } from '../support/processes';
import { createReleaseWorker, type ReleaseWorker, releaseHasWorkflow, releaseStarters } from '../support/releases';
import { connectDevServer, quietTemporalLogs } from '../support/temporal';

const release = process.env.RECORD_RELEASE?.trim();
const outDir = path.join(HISTORIES_DIR, `release-${release}`);
const TOKEN = 'C0FFEE00C0FFEE00C0FFEE00C0FFEE00';
const { EventType } = proto.api.enums.v1;

let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let lab: MonitorHarness;
let redcap: FakeRedcap;
let configId: number;
const redcapRows: Array<Record<string, string>> = [];
const workers: Array<{ worker: ReleaseWorker; running: Promise<void> }> = [];
/** Every workflow started here; the running ones are terminated at the end. */
const started: WorkflowHandle[] = [];
const recorded: Array<{ name: string; events: number; last: string }> = [];
let serial = 0;

async function runWorker(taskQueue: string, activities: object): Promise<void> {
  const worker = await createReleaseWorker({
    version: release!,
    connection: temporal.nativeConnection,
    taskQueue,
    activities,
  });
  workers.push({ worker, running: worker.run() });
}

async function record(name: string, handle: WorkflowHandle): Promise<void> {
  const history = await handle.fetchHistory();
  const file = path.join(outDir, `${name}.history.json`);
  if (fs.existsSync(file)) throw new Error(`${file} exists: recorded histories are never overwritten`);
  writeHistory(file, history);
  const events = history.events ?? [];
  recorded.push({ name, events: events.length, last: EventType[events[events.length - 1]?.eventType ?? 0] ?? '?' });
}

const events = async (handle: WorkflowHandle, type: number) =>
  (await handle.fetchHistory()).events!.filter((e) => e.eventType === type);

/** The pending activity of the workflow (first one), as describe() shows it: type, attempt, last failure. */
async function pendingActivity(
  handle: WorkflowHandle,
): Promise<{ type: string; attempt: number; lastFailure: string } | undefined> {
  const [pending] = (await handle.describe()).raw.pendingActivities ?? [];
  if (!pending) return undefined;
  return {
    type: pending.activityType?.name ?? '',
    attempt: pending.attempt ?? 0,
    lastFailure: pending.lastFailure?.message ?? '',
  };
}

/** Waits until the workflow's activity `type` failed at least once and waits for its next attempt. */
async function retrying(handle: WorkflowHandle, type: string, attempts = 1): Promise<string> {
  let failure = '';
  await eventually(
    async () => {
      const pending = await pendingActivity(handle);
      failure = pending?.type === type ? pending.lastFailure : '';
      return failure !== '' && pending!.attempt > attempts;
    },
    `${handle.workflowId}: ${type} to fail ${attempts} time(s) and wait to be retried`,
    90_000,
  );
  return failure;
}

const state = (handle: WorkflowHandle) => handle.query(statusQuery).then((s) => s.state);

/** A session logged in REDCap, without scans; `filed: false`: not in the database yet (the intake files it). */
async function newSession(site: 'CMH' | 'ZHH', options: { scans?: boolean; filed?: boolean } = {}) {
  serial += 1;
  const sessionId = uniqueSessionId(site, serial);
  if (options.filed !== false) await seedSession(lab.orm, sessionId);
  if (options.scans) await addScan(lab.orm, sessionId);
  return { sessionId, studyId: 'SPN01', siteId: site, downloadScript: site === 'CMH' ? 'download.sh' : null };
}

const monitors = async (target: Awaited<ReturnType<typeof newSession>>, durations = lab.config.durations) => {
  const ids = await releaseStarters(release!).startReleaseMonitors(
    temporal.client,
    lab.config.taskQueue,
    durations,
    target,
  );
  const scanImport = temporal.client.workflow.getHandle(ids.scanImport.workflowId, ids.scanImport.runId);
  const scanDownload = ids.scanDownload
    ? temporal.client.workflow.getHandle(ids.scanDownload.workflowId, ids.scanDownload.runId)
    : undefined;
  started.push(scanImport, ...(scanDownload ? [scanDownload] : []));
  return { scanImport, scanDownload: scanDownload! };
};

if (!release)
  throw new Error('Set RECORD_RELEASE to the version whose frozen workflows to record, e.g. RECORD_RELEASE=0.2.0');

describe(`recording the mid-flight histories of release ${release}`, () => {
  jest.setTimeout(180_000);

  beforeAll(async () => {
    if (fs.existsSync(outDir) && fs.readdirSync(outDir).some((file) => file.endsWith('.history.json'))) {
      throw new Error(`${outDir} already holds histories: they stand for running monitors and are never re-recorded`);
    }
    quietTemporalLogs();
    temporal = await connectDevServer();
    redcap = await FakeRedcap.start();
    redcap.addProject({ token: TOKEN, records: redcapRows });
    // The release's default durations (2 days, 1 hour backoff…): the histories look like the ones in labs.
    lab = await startMonitorHarness(temporal, { worker: false });
    const em = lab.orm.em.fork();
    const config = await em.findOneOrFail(RedcapConfig, { project: 1234 });
    config.url = redcap.url;
    config.token = TOKEN;
    await em.flush();
    configId = config.id;
    await runWorker(lab.config.taskQueue, createActivities(lab.deps));
  });

  afterAll(async () => {
    for (const handle of started) {
      await handle.terminate('recorded (test/recorders/release-histories.ts)').catch(() => undefined);
    }
    for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
    await Promise.all(workers.map(({ running }) => running.catch(() => undefined)));
    if (recorded.length > 0)
      console.log(
        `recorded into ${outDir}:\n${recorded.map((r) => `  ${r.name}: ${r.events} events, last ${r.last}`).join('\n')}`,
      );
    await lab?.close();
    await redcap?.close();
    await temporal?.close();
  });

  test('ScanImportWorkflow mid-wait; ScanDownloadWorkflow mid-download (a submission failed, retried with backoff)', async () => {
    const target = await newSession('CMH');
    const { scanImport, scanDownload } = await monitors(target);
    await eventually(async () => (await state(scanImport)) === 'waiting', 'the import monitor to wait');
    expect(await retrying(scanDownload, 'downloadScans')).toContain('no scans yet');
    expect(lab.jobRuns('download', target.sessionId)).toBe(1);
    await record('scan-import-mid-wait', scanImport);
    await record('scan-download-mid-download', scanDownload);
  });

  test('after a scansArrived that found no scans: the import monitor waits again, the download monitor runs a new attempt', async () => {
    const target = await newSession('CMH');
    const { scanImport, scanDownload } = await monitors(target);
    await eventually(async () => (await state(scanImport)) === 'waiting', 'the import monitor to wait');
    await retrying(scanDownload, 'downloadScans');
    await scanImport.signal(scansArrivedSignal);
    await scanDownload.signal(scansArrivedSignal);

    await eventually(
      async () =>
        (await events(scanImport, EventType.EVENT_TYPE_TIMER_STARTED)).length === 2 &&
        (await state(scanImport)) === 'waiting',
      'the import monitor to check and wait again',
    );
    await eventually(
      async () => (await events(scanDownload, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)).length === 2,
      'the download monitor to cancel its attempt and schedule a new one',
    );
    await retrying(scanDownload, 'downloadScans');
    expect(lab.jobRuns('download', target.sessionId)).toBe(2);
    expect(await events(scanDownload, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)).toHaveLength(1);
    await record('scan-import-mid-wait-after-scans-arrived', scanImport);
    await record('scan-download-mid-download-after-scans-arrived', scanDownload);
  });

  test('ScanDownloadWorkflow mid-post-download (the post-download job failing, retried); ScanImportWorkflow scans-present', async () => {
    const target = await newSession('CMH', { scans: true });
    lab.failJob('post_download', target.sessionId, 'sbatch: error: Batch job submission failed: Invalid account');
    const { scanImport, scanDownload } = await monitors(target);
    expect(await scanImport.result()).toEqual({ outcome: 'scans-present' });
    expect(await retrying(scanDownload, 'runPostDownload')).toContain('Invalid account');
    await record('scan-import-scans-present', scanImport);
    await record('scan-download-mid-post-download', scanDownload);
  });

  test('ScanImportWorkflow mid-email (the SMTP server refusing, emailAdmins retried), then email-sent', async () => {
    const target = await newSession('ZHH');
    lab.smtp.rejectNext(1_000);
    const { scanImport } = await monitors(target, { ...lab.config.durations, scanCheckDelayMs: 1_000 });
    expect(await retrying(scanImport, 'emailAdmins')).toContain('Try again later');
    expect(await state(scanImport)).toBe('emailing');
    await record('scan-import-mid-email', scanImport);

    lab.smtp.rejectNext(0);
    expect(await scanImport.result()).toEqual({ outcome: 'email-sent' });
    expect(lab.smtp.messages.map((m) => m.subject)).toEqual([`[SPN01] No scan data received for ${target.sessionId}`]);
    await record('scan-import-email-sent', scanImport);
  });

  test('RedcapIntakeWorkflow retrying REDCap (503), then completed (record filed, monitors started)', async () => {
    const target = await newSession('ZHH', { filed: false });
    redcapRows.push({
      record_id: 'R1',
      session_id: target.sessionId,
      scan_date: '2026-11-20',
      comments: 'recorded',
      mri_scan_log_complete: '2',
    });
    redcap.failNext(1_000, 503);
    const ids = await releaseStarters(release!).startReleaseIntake(
      temporal.client,
      lab.config.taskQueue,
      { configId, record: 'R1' },
      { redcapUrl: redcap.url, project: 1234, instrument: 'mri_scan_log' },
    );
    const intake = temporal.client.workflow.getHandle(ids.workflowId, ids.runId);
    started.push(intake);
    expect(await retrying(intake, 'fetchRedcapRecord', 2)).toContain('503');
    await record('redcap-intake-retrying-redcap', intake);

    redcap.heal();
    const result = (await intake.result()) as { sessionId: string; monitors: { scanImport: { workflowId: string } } };
    expect(result.sessionId).toBe(target.sessionId);
    started.push(temporal.client.workflow.getHandle(result.monitors.scanImport.workflowId));
    await record('redcap-intake-completed', intake);
  });

  // Releases from 0.2.0 run the reconciliation; the schedule (or the CLI) starts it with the config's id only.
  if (releaseHasWorkflow(release!, 'RedcapReconcileWorkflow'))
    test('RedcapReconcileWorkflow mid-run (REDCap slow: the window read, the records being read)', async () => {
      const target = await newSession('ZHH', { filed: false });
      redcapRows.push({
        record_id: 'R3',
        session_id: target.sessionId,
        scan_date: '2026-11-22',
        comments: 'recorded',
        mri_scan_log_complete: '2',
      });
      redcap.slow(3_000);
      const run = await temporal.client.workflow.start('RedcapReconcileWorkflow', {
        taskQueue: lab.config.taskQueue,
        workflowId: `redcap-reconcile:${configId}-recorder-${Date.now()}`,
        args: [{ configId }],
      });
      started.push(run);
      await eventually(
        async () => (await events(run, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)).length === 2,
        'the reconciliation to begin and read the records',
        60_000,
      );
      expect((await pendingActivity(run))?.type).toBe('reconcileRecords');
      await record('redcap-reconcile-mid-run', run);
      redcap.heal();
      expect(await run.result()).toMatchObject({ started: expect.any(Number) });
    });

  test('RedcapIntakeWorkflow after filing, mid-startMonitors (the Temporal frontend unreachable from the activity)', async () => {
    const target = await newSession('ZHH', { filed: false });
    redcapRows.push({
      record_id: 'R2',
      session_id: target.sessionId,
      scan_date: '2026-11-21',
      comments: 'recorded',
      mri_scan_log_complete: '2',
    });
    // A worker of its own whose activities reach Temporal at an address where nothing listens (no gRPC retries).
    const unreachable = new Client({
      connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [] }),
    });
    const taskQueue = `${lab.config.taskQueue}-unreachable`;
    await runWorker(taskQueue, createActivities({ ...lab.deps, temporal: unreachable }));
    const ids = await releaseStarters(release!).startReleaseIntake(
      temporal.client,
      taskQueue,
      { configId, record: 'R2' },
      { redcapUrl: redcap.url, project: 1234, instrument: 'mri_scan_log' },
    );
    const intake = temporal.client.workflow.getHandle(ids.workflowId, ids.runId);
    started.push(intake);
    await retrying(intake, 'startMonitors');
    expect(await events(intake, EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)).toHaveLength(1);
    await record('redcap-intake-mid-start-monitors', intake);
  });
});
