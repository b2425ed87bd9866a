/**
 * (b) Monitor fleet: start N ScanImportWorkflows for sessions that miss their scans, as the intake starts them
 * (startScanMonitors), with the default 2-day wait, on one worker process (`npm run worker`). Figures: the start
 * rate; how fast every monitor has made its first check and is waiting; the worker's RSS with all of them waiting;
 * then, after a scan is registered for every session and `scansArrived` sent to all, how fast they all finish.
 * Beside them,
 * the rate at which a bare Temporal client starts the same workflow type on the same server (measured before
 * and after the fleet, and averaged), and the ratios. The hot path is counted too: the SQL statements of one
 * `checkScans`, and the worker's requests to the server per monitor (from the SDK's metrics).
 */
import type { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { createMonitorActivities } from '../activities/monitors';
import type { Config } from '../src/config';
import { workerTuning } from '../src/temporal/worker-tuning';
import type { Orm } from '../src/db/orm';
import { logger } from '../src/logger';
import { startScanMonitors } from '../src/temporal/monitors';
import { SCAN_IMPORT_WORKFLOW, scanImportWorkflowId, scansArrivedSignal, type ScanImportInput } from '../surface';
import { cpuSeconds, fmt, percentile, rssMiB, runFor, runPool, scrapeMetrics, type Metrics } from './stats';

const sessionId = (i: number) => `SPN01_CMH_${String(i).padStart(6, '0')}_01_01`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** N sessions at CMH, each with a REDCap record and no scans, inserted in a few statements. */
async function seedSessions(orm: Orm, count: number, redcapConfigId: number): Promise<void> {
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

/** Starts per second of a bare client (no memo, no search attributes) for ScanImportWorkflow on a queue no worker polls. */
async function bareStartRate(client: Client, config: Config, workerPid: number, concurrency: number, seconds: number) {
  const input: ScanImportInput = {
    sessionId: 'BARE',
    studyId: 'SPN01',
    siteId: 'CMH',
    checkDelayMs: config.durations.scanCheckDelayMs,
  };
  const cpuBefore = cpuSeconds(workerPid);
  const latencies = await runFor(seconds * 1000, concurrency, () =>
    client.workflow.start(SCAN_IMPORT_WORKFLOW, {
      taskQueue: `${config.taskQueue}-bare`,
      workflowId: `bench-bare:${randomUUID()}`,
      args: [input],
    }),
  );
  const cpu = cpuPerMonitor(cpuBefore, cpuSeconds(workerPid), latencies.length).replace('per monitor', 'per start');
  return { perSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpu };
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

/** Workflow tasks the worker completed (a monitor's first task ends with it waiting; its last with it finished). */
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

export async function benchFleet(options: {
  orm: Orm;
  client: Client;
  config: Config;
  worker: { pid: number; sdkMetricsUrl: string; env: Record<string, string> };
  count: number;
  redcapConfigId: number;
  /** Seconds of each bare-client start measurement. */
  bareSeconds: number;
  concurrency?: number;
  /** Where each result line goes (bench/stats.ts printer: cores and server kind first). */
  log: (line: string) => void;
}): Promise<void> {
  const { orm, client, config, count } = options;
  const concurrency = options.concurrency ?? 64;
  const print = (text: string) => options.log(`fleet: ${text}`);
  const tuning = Object.entries(workerTuning(config)).map(([option, value]) => `${option} ${value}`);
  print(
    `worker (compiled, prebuilt workflow bundle; NODE_OPTIONS ${options.worker.env.NODE_OPTIONS ?? ''}, MALLOC_ARENA_MAX ${options.worker.env.MALLOC_ARENA_MAX ?? ''}): ${tuning.join(', ') || 'SDK defaults'}`,
  );
  await seedSessions(orm, count, options.redcapConfigId);
  const check = await checkScansCost(orm, config, sessionId(0));
  print(
    `checkScans: ${check.statements} SQL statement(s), ${fmt(check.ms, 2)} ms each (a session with its REDCap record and no scans; 500 in a row, in the bench process)`,
  );
  const bareBefore = await bareStartRate(client, config, options.worker.pid, concurrency, options.bareSeconds);

  const idleRss = rssMiB(options.worker.pid);
  const metricsBefore = await scrapeMetrics(options.worker.sdkMetricsUrl);
  const cpuBefore = cpuSeconds(options.worker.pid);
  const started = performance.now();
  const startLatencies = await runPool(count, concurrency, (i) =>
    startScanMonitors(client, config, { sessionId: sessionId(i), studyId: 'SPN01', siteId: 'CMH' }),
  );
  const startSeconds = (performance.now() - started) / 1000;

  // First checks: every monitor has checked its session and waits out its 2 days (two workflow tasks, around its
  // check). Read from the worker's metrics, so the bench adds no work to it.
  const checked = await workerSettled(options.worker.sdkMetricsUrl, metricsBefore, 2 * count);
  const checkSeconds = (checked.at - started) / 1000;
  const cpuChecked = cpuSeconds(options.worker.pid);
  const settledRss = rssMiB(options.worker.pid);

  // Every monitor answers 'waiting' (queries; untimed: with a small cache each is a replay).
  const stateOf = (i: number) =>
    client.workflow
      .getHandle(scanImportWorkflowId(sessionId(i)))
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
  const queriedSeconds = (performance.now() - queried) / 1000;
  const queriedRss = rssMiB(options.worker.pid);
  const metricsQueried = await scrapeMetrics(options.worker.sdkMetricsUrl);
  const cpuQueried = cpuSeconds(options.worker.pid);

  await orm.em.getConnection().execute(
    `insert into scan (session_id, name, series, tag, description, created_at)
       select id, id || '_T1_02', 2, 'T1', 'bench', now() from session where id like 'SPN01_CMH_%'`,
  );
  const signalled = performance.now();
  await runPool(count, concurrency, (i) =>
    client.workflow.getHandle(scanImportWorkflowId(sessionId(i))).signal(scansArrivedSignal),
  );
  const signalSeconds = (performance.now() - signalled) / 1000;
  // Finished: read from the worker's metrics (as the first checks), then confirmed once on the server.
  const completed = (metrics: Metrics) =>
    metrics.sum('temporal_workflow_completed', `workflow_type="${SCAN_IMPORT_WORKFLOW}"`);
  while (completed(await scrapeMetrics(options.worker.sdkMetricsUrl)) - completed(metricsQueried) < count)
    await sleep(250);
  const drainSeconds = (performance.now() - signalled) / 1000;
  const drained = await workerSettled(options.worker.sdkMetricsUrl, metricsQueried, count);
  const running = `WorkflowType="${SCAN_IMPORT_WORKFLOW}" AND TaskQueue="${config.taskQueue}" AND ExecutionStatus="Running"`;
  for (let tries = 1; (await client.workflow.count(running)).count > 0; tries++) {
    if (tries === 30) throw new Error(`monitors still running on the server after the worker finished ${count}`);
    await sleep(1_000);
  }
  const finalRss = rssMiB(options.worker.pid);
  const cpuDrained = cpuSeconds(options.worker.pid);

  const bareAfter = await bareStartRate(client, config, options.worker.pid, concurrency, options.bareSeconds);
  const bare = (bareBefore.perSecond + bareAfter.perSecond) / 2;
  const ratio = (perSecond: number) => fmt(perSecond / bare, 2);

  print(
    `bare client starts ScanImportWorkflow at ${fmt(bare)}/s (${fmt(bareBefore.perSecond)}/s before the fleet, ${fmt(bareAfter.perSecond)}/s after;` +
      ` p50 ${fmt(bareBefore.p50)} ms, p99 ${fmt(bareBefore.p99)} ms, ${concurrency} at once); before: ${bareBefore.cpu}`,
  );
  print(
    `started ${count} through startScanMonitors in ${fmt(startSeconds)} s = ${fmt(count / startSeconds)}/s, ratio ${ratio(count / startSeconds)}` +
      ` (p50 ${fmt(percentile(startLatencies, 50))} ms, p99 ${fmt(percentile(startLatencies, 99))} ms)`,
  );
  print(
    `first check of all ${count} done and waiting ${fmt(checkSeconds)} s after the first start = ${fmt(count / checkSeconds)}/s, ratio ${ratio(count / checkSeconds)};` +
      ` per monitor: ${perMonitor(metricsBefore, checked.metrics, count)}; ${cpuPerMonitor(cpuBefore, cpuChecked, count)} (with its start)`,
  );
  print(
    `all ${count} waiting: worker RSS ${fmt(settledRss.rss, 0)} MiB (${fmt(idleRss.rss, 0)} MiB before the fleet); after a status query to each (${fmt(queriedSeconds)} s)` +
      ` ${fmt(queriedRss.rss, 0)} MiB; peak so far ${fmt(queriedRss.peak, 0)} MiB`,
  );
  print(
    `scansArrived sent to ${count} in ${fmt(signalSeconds)} s; all finished ${fmt(drainSeconds)} s after the first signal` +
      ` = ${fmt(count / drainSeconds)}/s, ratio ${ratio(count / drainSeconds)}; per monitor: ${perMonitor(metricsQueried, drained.metrics, count)};` +
      ` ${cpuPerMonitor(cpuQueried, cpuDrained, count)} (with its signal);` +
      ` worker RSS ${fmt(finalRss.rss, 0)} MiB (peak ${fmt(finalRss.peak, 0)} MiB)`,
  );
}
