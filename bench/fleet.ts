/**
 * (b) Monitor fleet: start N ScanImportWorkflows (the real start path, startScanMonitors) for sessions that
 * miss their scans, with the default 2-day wait, on one worker process (`npm run worker`); report the start
 * rate and the worker's RSS; then register a scan for every session, signal `scansArrived` to all, and time
 * how long until every monitor has finished.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../src/config';
import type { Orm } from '../src/db/orm';
import { startScanMonitors } from '../src/temporal/monitors';
import { scanImportWorkflowId, scansArrivedSignal } from '../surface';
import { fmt, percentile, rssMiB, runPool } from './stats';

const sessionId = (i: number) => `SPN01_CMH_${String(i).padStart(6, '0')}_01_01`;

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

export async function benchFleet(options: {
  orm: Orm;
  client: Client;
  config: Config;
  workerPid: number;
  count: number;
  redcapConfigId: number;
  concurrency?: number;
  /** Where each result line goes (default: stdout). */
  log?: (line: string) => void;
}): Promise<void> {
  const log = options.log ?? ((line: string) => console.log(line));
  const { orm, client, config, count } = options;
  const concurrency = options.concurrency ?? 64;
  await seedSessions(orm, count, options.redcapConfigId);

  const started = performance.now();
  const startLatencies = await runPool(count, concurrency, (i) =>
    startScanMonitors(client, config, { sessionId: sessionId(i), studyId: 'SPN01', siteId: 'CMH' }),
  );
  const startSeconds = (performance.now() - started) / 1000;
  log(
    `fleet: started ${count} ScanImportWorkflows in ${fmt(startSeconds)} s = ${fmt(count / startSeconds)}/s` +
      ` (p50 ${fmt(percentile(startLatencies, 50))} ms, p99 ${fmt(percentile(startLatencies, 99))} ms, ${concurrency} at once)`,
  );

  // Settled: the worker has run every monitor's first check and each is waiting out its 2 days. Tasks are not
  // served in start order, so every monitor is asked (and asked again until it is waiting).
  const waiting = `WorkflowType="ScanImportWorkflow" AND ExecutionStatus="Running"`;
  const settleStarted = performance.now();
  const stateOf = (i: number) =>
    client.workflow
      .getHandle(scanImportWorkflowId(sessionId(i)))
      .query<{ state: string }>('status')
      .then((status) => status.state, () => 'not yet');
  while ((await stateOf(count - 1)) !== 'waiting') await new Promise((resolve) => setTimeout(resolve, 500));
  let unsettled = Array.from({ length: count }, (_, i) => i);
  while (unsettled.length > 0) {
    const states = new Map<number, string>();
    await runPool(unsettled.length, concurrency, async (k) => {
      states.set(unsettled[k], await stateOf(unsettled[k]));
    });
    unsettled = unsettled.filter((i) => states.get(i) !== 'waiting');
    if (unsettled.length > 0) await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  const settledRss = rssMiB(options.workerPid);
  log(
    `fleet: all ${(await client.workflow.count(waiting)).count} monitors waiting ${fmt((performance.now() - settleStarted) / 1000)} s after the last start (their first check done);` +
      ` worker RSS ${fmt(settledRss.rss, 0)} MiB (peak ${fmt(settledRss.peak, 0)} MiB)`,
  );

  await orm.em.getConnection().execute(
    `insert into scan (session_id, name, series, tag, description, created_at)
       select id, id || '_T1_02', 2, 'T1', 'bench', now() from session where id like 'SPN01_CMH_%'`,
  );
  const signalled = performance.now();
  await runPool(count, concurrency, (i) => client.workflow.getHandle(scanImportWorkflowId(sessionId(i))).signal(scansArrivedSignal));
  const signalSeconds = (performance.now() - signalled) / 1000;
  let running = count;
  while (running > 0) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    running = (await client.workflow.count(waiting)).count;
  }
  const doneSeconds = (performance.now() - signalled) / 1000;
  const finalRss = rssMiB(options.workerPid);
  log(
    `fleet: scansArrived sent to ${count} in ${fmt(signalSeconds)} s (${fmt(count / signalSeconds)}/s);` +
      ` all finished ${fmt(doneSeconds)} s after the first signal; worker RSS ${fmt(finalRss.rss, 0)} MiB (peak ${fmt(finalRss.peak, 0)} MiB)`,
  );
}
