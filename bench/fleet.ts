/**
 * (b) Monitor fleet: N ScanImportWorkflows for sessions that miss their scans, started as the intake starts them
 * (startScanMonitors), with the default 2-day wait, on one worker process (`npm run worker`); and beside them the
 * same fleet of the same-shape no-op (bench/noop-workflow.ts: started with the same options and search attributes,
 * one timer, ended by a signal; its own worker runs no activity), which is what Temporal itself needs for that
 * shape. Figures for each: the start rate; how fast every one has had its first workflow task(s) and waits; the
 * worker's RSS with all of them waiting; then, after `scansArrived` to all (our monitors finding their scans), how
 * fast they all finish. Then the ratios of ours to the no-op for those two rates (the goal: 0.7 or more), and the
 * hot path: the SQL statements of one `checkScans`, the worker's requests to the server per monitor (from the
 * SDK's metrics) and the CPU every process spent per monitor.
 */
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import fs from 'node:fs';
import { createMonitorActivities } from '../activities/monitors';
import type { Config } from '../src/config';
import { workerTuning } from '../src/temporal/worker-tuning';
import type { Orm } from '../src/db/orm';
import { logger } from '../src/logger';
import { scanImportStartOptions, startScanMonitors } from '../src/temporal/monitors';
import { SCAN_IMPORT_WORKFLOW, scanImportWorkflowId, scansArrivedSignal } from '../surface';
import { freePort } from '../test/support/ports';
import { startTsProcess, waitForProcess, type ServiceProcess } from '../test/support/processes';
import { cpuSeconds, fmt, percentile, rssMiB, runPool, scrapeMetrics, type Metrics } from './stats';

export const fleetSessionId = (i: number) => `SPN01_CMH_${String(i).padStart(6, '0')}_01_01`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** N sessions at CMH, each with a REDCap record and no scans, inserted in a few statements. */
export async function seedFleetSessions(orm: Orm, count: number, redcapConfigId: number): Promise<void> {
  const sql = orm.em.getConnection();
  await sql.execute(
    `insert into timepoint (id, site_id, is_phantom)
       select 'SPN01_CMH_' || lpad(i::text, 6, '0') || '_01', 'CMH', false from generate_series(0, ? - 1) i`,
    [count],
  );
  await sql.execute(
    `insert into study_timepoint (timepoint_id, study_id) select id, 'SPN01' from timepoint where site_id = 'CMH'`,
  );
  await sql.execute(
    `insert into session (id, timepoint_id, num, date) select id || '_01', id, 1, '2026-11-20' from timepoint where site_id = 'CMH'`,
  );
  await sql.execute(
    `insert into redcap_record (config_id, record, event_name, entry_date, comment, session_name, created_at)
       select ?, 'bench-' || id, '', '2026-11-20', 'scanned', id, now() from session`,
    [redcapConfigId],
  );
  await sql.execute(
    `insert into session_redcap (session_id, record_id) select session_name, id from redcap_record where record like 'bench-%'`,
  );
}

/** The SQL statements one `checkScans` sends, and its mean time over `repeat` calls (the real activity, in this process). */
async function checkScansCost(
  orm: Orm,
  config: Config,
  session: string,
  repeat = 500,
): Promise<{ statements: number; ms: number }> {
  const { checkScans } = createMonitorActivities({
    config,
    orm,
    logger,
    temporal: undefined as never,
    mailer: undefined as never,
  });
  const knex = orm.em.getConnection().getKnex();
  let statements = 0;
  const count = () => statements++;
  knex.on('query', count);
  try {
    await checkScans(session);
  } finally {
    knex.off('query', count);
  }
  const started = performance.now();
  for (let i = 0; i < repeat; i++) await checkScans(session);
  return { statements, ms: (performance.now() - started) / repeat };
}

/** What the worker did between two scrapes of its SDK metrics, per monitor. */
function perMonitor(before: Metrics, after: Metrics, count: number): string {
  const delta = (name: string, labels = '') => (after.sum(name, labels) - before.sum(name, labels)) / count;
  const parts = [
    `${fmt(delta('temporal_request', 'operation="RespondWorkflowTaskCompleted"'), 2)} workflow tasks`,
    `${fmt(delta('temporal_request', 'operation="RespondActivityTaskCompleted"') + delta('temporal_request', 'operation="RespondActivityTaskFailed"'), 2)} activity tasks`,
    `${fmt(delta('temporal_local_activity_execution_latency_count'), 2)} local activities`,
    `${fmt(delta('temporal_sticky_cache_hit'), 2)} sticky cache hits`,
    `${fmt(delta('temporal_request', 'operation="GetWorkflowExecutionHistory"'), 2)} history fetches`,
    `${fmt(delta('temporal_long_request', 'operation="PollWorkflowTaskQueue"'), 2)} workflow task polls`,
  ];
  const mean = (name: string, labels = '') =>
    fmt(
      (after.sum(`${name}_sum`, labels) - before.sum(`${name}_sum`, labels)) /
        (after.sum(`${name}_count`, labels) - before.sum(`${name}_count`, labels)),
      0,
    );
  return (
    `${parts.join(', ')}; mean ms: workflow task poll ${mean('temporal_long_request_latency', 'operation="PollWorkflowTaskQueue"')},` +
    ` queued ${mean('temporal_workflow_task_schedule_to_start_latency')},` +
    ` executed ${mean('temporal_workflow_task_execution_latency')}, local activity ${mean('temporal_local_activity_execution_latency')}`
  );
}

/** CPU milliseconds per monitor each process group used between two readings. */
function cpuPerMonitor(
  before: ReturnType<typeof cpuSeconds>,
  after: ReturnType<typeof cpuSeconds>,
  count: number,
): string {
  const ms = (key: keyof typeof before) => fmt(((after[key] - before[key]) * 1000) / count, 2);
  return `CPU ms per monitor: worker ${ms('worker')}, Temporal server ${ms('temporal')}, PostgreSQL ${ms('postgres')}, bench ${ms('bench')}`;
}

/** Workflow tasks the worker completed. */
const workflowTasksDone = (metrics: Metrics) =>
  metrics.sum('temporal_request', 'operation="RespondWorkflowTaskCompleted"');

/**
 * Waits until the worker completed `expected` more workflow tasks than in `before` and then finished every workflow
 * task it had (no workflow task slot in use, no task completed for a second); returns the time of its last one.
 */
async function workerSettled(
  metricsUrl: string,
  before: Metrics,
  expected: number,
): Promise<{ at: number; metrics: Metrics }> {
  let last = { completed: -1, at: performance.now() };
  for (;;) {
    await sleep(250);
    const metrics = await scrapeMetrics(metricsUrl);
    const completed = workflowTasksDone(metrics);
    const now = performance.now();
    if (completed !== last.completed) last = { completed, at: now };
    const busy = metrics.sum('temporal_worker_task_slots_used', 'worker_type="WorkflowWorker"') > 0;
    if (completed - workflowTasksDone(before) >= expected && !busy && now - last.at >= 1_000)
      return { at: last.at, metrics };
  }
}

/** A worker process of the bench: its pid, and where it serves the SDK's metrics. */
export interface FleetWorker {
  pid: number;
  sdkMetricsUrl: string;
}

/** The same-shape no-op's worker (bench/noop-worker.ts) as a child process, on a bundle of bench/noop-workflow.ts. */
export async function startNoopWorker(
  env: Record<string, string>,
  workDir: string,
): Promise<ServiceProcess & FleetWorker & { taskQueue: string; workflowType: string }> {
  const bundlePath = path.join(workDir, 'noop-workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./noop-workflow') });
  fs.writeFileSync(bundlePath, code);
  const sdkMetricsPort = await freePort();
  const taskQueue = 'bench-noop';
  const worker = startTsProcess(path.join(__dirname, 'noop-worker.ts'), [], {
    ...env,
    TEMPORAL_TASK_QUEUE: taskQueue,
    WORKFLOW_BUNDLE_PATH: bundlePath,
    WORKER_SDK_METRICS_PORT: String(sdkMetricsPort),
  });
  await waitForProcess(worker, () => worker.output().includes('worker running'), 'the no-op worker to start', 120_000);
  return {
    ...worker,
    pid: worker.child.pid!,
    sdkMetricsUrl: `http://127.0.0.1:${sdkMetricsPort}/metrics`,
    taskQueue,
    workflowType: 'SameShapeNoop',
  };
}

/** One fleet of one workflow type on its worker, and what it needs of the bench. */
interface Fleet {
  name: string;
  workflowType: string;
  taskQueue: string;
  worker: FleetWorker;
  /** Workflow tasks one workflow takes from its start until it waits, and from `scansArrived` until it ends. */
  tasksToWait: number;
  tasksToFinish: number;
  start(i: number): Promise<unknown>;
  workflowId(i: number): string;
  /** Before the signals: what makes `scansArrived` end the wait (ours: a scan for every session). */
  beforeSignals?(): Promise<unknown>;
}

interface FleetFigures {
  waitingPerSecond: number;
  finishedPerSecond: number;
  waitingRss: { rss: number; peak: number };
}

/**
 * Waits until monitors 0 … count-1 all answer `status` with `waiting` (untimed: with a small cache each query is a
 * replay); returns how long that took, in seconds.
 */
export async function allWaiting(
  client: Client,
  workflowId: (i: number) => string,
  count: number,
  concurrency: number,
): Promise<number> {
  const stateOf = (i: number) =>
    client.workflow
      .getHandle(workflowId(i))
      .query<{ state: string }>('status')
      .then(
        (status) => status.state,
        () => 'no answer',
      );
  let unsettled = Array.from({ length: count }, (_, i) => i);
  const queried = performance.now();
  while (unsettled.length > 0) {
    const states = new Map<number, string>();
    await runPool(unsettled.length, concurrency, async (k) => {
      states.set(unsettled[k], await stateOf(unsettled[k]));
    });
    unsettled = unsettled.filter((i) => states.get(i) !== 'waiting');
    if (unsettled.length > 0) await sleep(1_000);
  }
  return (performance.now() - queried) / 1000;
}

async function runFleet(
  client: Client,
  fleet: Fleet,
  count: number,
  concurrency: number,
  print: (text: string) => void,
): Promise<FleetFigures> {
  const { worker } = fleet;
  const idleRss = rssMiB(worker.pid);
  const metricsBefore = await scrapeMetrics(worker.sdkMetricsUrl);
  const cpuBefore = cpuSeconds(worker.pid);
  const started = performance.now();
  const startLatencies = await runPool(count, concurrency, (i) => fleet.start(i));
  const startSeconds = (performance.now() - started) / 1000;

  // All waiting: every one has had its first workflow task(s) and waits out its 2 days. Read from the worker's
  // metrics, so the bench adds no work to it.
  const waiting = await workerSettled(worker.sdkMetricsUrl, metricsBefore, fleet.tasksToWait * count);
  const waitingSeconds = (waiting.at - started) / 1000;
  const cpuWaiting = cpuSeconds(worker.pid);
  const waitingRss = rssMiB(worker.pid);
  print(
    `started ${count} in ${fmt(startSeconds)} s = ${fmt(count / startSeconds)}/s (p50 ${fmt(percentile(startLatencies, 50))} ms,` +
      ` p99 ${fmt(percentile(startLatencies, 99))} ms, ${concurrency} at once); all waiting after their first task` +
      ` ${fmt(waitingSeconds)} s after the first start = ${fmt(count / waitingSeconds)}/s; per workflow:` +
      ` ${perMonitor(metricsBefore, waiting.metrics, count)}; ${cpuPerMonitor(cpuBefore, cpuWaiting, count)} (with its start);` +
      ` worker RSS ${fmt(waitingRss.rss, 0)} MiB with all waiting (${fmt(idleRss.rss, 0)} MiB before)`,
  );
  if (fleet.workflowType === SCAN_IMPORT_WORKFLOW) {
    const seconds = await allWaiting(client, fleet.workflowId, count, concurrency);
    const rss = rssMiB(worker.pid);
    print(
      `a status query to each says waiting (${fmt(seconds)} s); worker RSS then ${fmt(rss.rss, 0)} MiB, peak ${fmt(rss.peak, 0)} MiB`,
    );
  }

  await fleet.beforeSignals?.();
  const metricsSignalled = await scrapeMetrics(worker.sdkMetricsUrl);
  const cpuSignalled = cpuSeconds(worker.pid);
  const signalled = performance.now();
  await runPool(count, concurrency, (i) => client.workflow.getHandle(fleet.workflowId(i)).signal(scansArrivedSignal));
  const signalSeconds = (performance.now() - signalled) / 1000;
  // Finished: read from the worker's metrics (as the waiting), then confirmed once on the server.
  const completed = (metrics: Metrics) =>
    metrics.sum('temporal_workflow_completed', `workflow_type="${fleet.workflowType}"`);
  while (completed(await scrapeMetrics(worker.sdkMetricsUrl)) - completed(metricsSignalled) < count) await sleep(250);
  const finishedSeconds = (performance.now() - signalled) / 1000;
  const drained = await workerSettled(worker.sdkMetricsUrl, metricsSignalled, fleet.tasksToFinish * count);
  const running = `WorkflowType="${fleet.workflowType}" AND TaskQueue="${fleet.taskQueue}" AND ExecutionStatus="Running"`;
  for (let tries = 1; (await client.workflow.count(running)).count > 0; tries++) {
    if (tries === 30) throw new Error(`${fleet.name}: still running on the server after the worker finished ${count}`);
    await sleep(1_000);
  }
  const finalRss = rssMiB(worker.pid);
  print(
    `scansArrived sent to ${count} in ${fmt(signalSeconds)} s; all finished ${fmt(finishedSeconds)} s after the first signal` +
      ` = ${fmt(count / finishedSeconds)}/s; per workflow: ${perMonitor(metricsSignalled, drained.metrics, count)};` +
      ` ${cpuPerMonitor(cpuSignalled, cpuSeconds(worker.pid), count)} (with its signal);` +
      ` worker RSS ${fmt(finalRss.rss, 0)} MiB (peak ${fmt(finalRss.peak, 0)} MiB)`,
  );
  return { waitingPerSecond: count / waitingSeconds, finishedPerSecond: count / finishedSeconds, waitingRss };
}

/** MiB as the goal's MB (10^6 bytes). */
const mb = (mib: number) => fmt((mib * 1024 * 1024) / 1e6, 0);

export async function benchFleet(options: {
  orm: Orm;
  client: Client;
  config: Config;
  /** `npm run worker` (ours), and the no-op worker with its own task queue. */
  worker: FleetWorker & { env: Record<string, string> };
  noop: FleetWorker & { taskQueue: string; workflowType: string };
  count: number;
  redcapConfigId: number;
  concurrency?: number;
  /** Where each result line goes (bench/stats.ts printer: cores and server kind first). */
  log: (line: string) => void;
}): Promise<void> {
  const { orm, client, config, count, noop } = options;
  const concurrency = options.concurrency ?? 64;
  const print = (text: string) => options.log(`fleet: ${text}`);
  const tuning = Object.entries(workerTuning(config)).map(([option, value]) => `${option} ${value}`);
  print(
    `workers (ours compiled, both on a prebuilt workflow bundle; NODE_OPTIONS ${options.worker.env.NODE_OPTIONS ?? ''}, MALLOC_ARENA_MAX ${options.worker.env.MALLOC_ARENA_MAX ?? ''}): ${tuning.join(', ') || 'SDK defaults'}`,
  );
  await seedFleetSessions(orm, count, options.redcapConfigId);
  const check = await checkScansCost(orm, config, fleetSessionId(0));
  print(
    `checkScans: ${check.statements} SQL statement(s), ${fmt(check.ms, 2)} ms each (a session with its REDCap record and no scans; 500 in a row, in the bench process)`,
  );
  const target = (i: number) => ({ sessionId: fleetSessionId(i), studyId: 'SPN01', siteId: 'CMH' });

  // The no-op first: ours then meets the server with the no-op's closed workflows too, never the other way round.
  const noopId = (i: number) => `bench-noop:${fleetSessionId(i)}`;
  const base = await runFleet(
    client,
    {
      name: 'same-shape no-op',
      workflowType: noop.workflowType,
      taskQueue: noop.taskQueue,
      worker: noop,
      tasksToWait: 1,
      tasksToFinish: 1,
      start: (i) =>
        client.workflow.start(noop.workflowType, {
          ...scanImportStartOptions(config, target(i)),
          taskQueue: noop.taskQueue,
          workflowId: noopId(i),
        }),
      workflowId: noopId,
    },
    count,
    concurrency,
    (text) => print(`same-shape no-op: ${text}`),
  );
  const ours = await runFleet(
    client,
    {
      name: 'ScanImportWorkflow',
      workflowType: SCAN_IMPORT_WORKFLOW,
      taskQueue: config.taskQueue,
      worker: options.worker,
      // Its check (an activity) between two workflow tasks; after scansArrived the same.
      tasksToWait: 2,
      tasksToFinish: 2,
      start: (i) => startScanMonitors(client, config, target(i)),
      workflowId: (i) => scanImportWorkflowId(fleetSessionId(i)),
      beforeSignals: () =>
        orm.em.getConnection().execute(
          `insert into scan (session_id, name, series, tag, description, created_at)
             select id, id || '_T1_02', 2, 'T1', 'bench', now() from session where id like 'SPN01_CMH_%'`,
        ),
    },
    count,
    concurrency,
    (text) => print(`ScanImportWorkflow: ${text}`),
  );
  const ratio = (a: number, b: number) => `${fmt(a / b, 2)} (${fmt(a)}/s against ${fmt(b)}/s)`;
  print(
    `ours / same-shape no-op (goal 0.7 or more on both): all waiting after the first task ${ratio(ours.waitingPerSecond, base.waitingPerSecond)};` +
      ` all finished after scansArrived ${ratio(ours.finishedPerSecond, base.finishedPerSecond)}`,
  );
  print(
    `worker RSS with ${count} waiting (goal 300 MB or less with 10,000): ours ${fmt(ours.waitingRss.rss, 0)} MiB = ${mb(ours.waitingRss.rss)} MB` +
      ` (peak so far ${fmt(ours.waitingRss.peak, 0)} MiB); the no-op's ${fmt(base.waitingRss.rss, 0)} MiB`,
  );
}
