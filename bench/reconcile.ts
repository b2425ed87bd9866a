/**
 * (c) Reconciliation of a big project, against a fake REDCap and one worker process (`npm run worker`):
 *   1. N completed rows in the window, all filed already (the usual case: a busy project, or a first run's lookback):
 *      the time of one RedcapReconcileWorkflow run, which starts nothing;
 *   2. N more completed rows that no trigger announced: the time of one run that starts their N intakes, and how many
 *      of those intakes have filed their record a minute later (the intakes' own pace, on the same worker).
 * With each: the run's own REDCap calls and the length of its history.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Orm } from '../src/db/orm';
import { REDCAP_RECONCILE_WORKFLOW, redcapReconcileScheduleId, type RedcapReconcileResult } from '../surface';
import type { FakeRedcap } from '../test/support/fake-redcap';
import { fmt } from './stats';

const name = (i: number) => `R${String(i).padStart(6, '0')}`;
const sessionOf = (i: number) => `SPN01_CMH_9${String(i).padStart(5, '0')}_01_01`;

export async function benchReconcile(options: {
  orm: Orm;
  client: Client;
  redcap: FakeRedcap;
  token: string;
  redcapConfigId: number;
  taskQueue: string;
  rows: number;
  log: (line: string) => void;
}): Promise<void> {
  const { orm, client, redcap, rows, redcapConfigId, log } = options;
  const sql = orm.em.getConnection();
  const save = (from: number) => {
    for (let i = from; i < from + rows; i++) {
      redcap.saveRow(options.token, {
        record_id: name(i),
        session_id: sessionOf(i),
        scan_date: '2026-11-20',
        comments: `scan ${i}`,
        ra_id: '42',
        mri_scan_log_complete: '2',
      });
    }
  };
  const filed = async () =>
    Number(
      (
        await sql.execute<Array<{ n: string }>>(`select count(*) as n from redcap_record where config_id = ?`, [
          redcapConfigId,
        ])
      )[0].n,
    );

  const reconcile = async (what: string) => {
    const workflowId = `${redcapReconcileScheduleId(redcapConfigId)}-bench-${randomUUID()}`;
    const calls = redcap.calls.length;
    const started = performance.now();
    const result: RedcapReconcileResult = await client.workflow.execute(REDCAP_RECONCILE_WORKFLOW, {
      taskQueue: options.taskQueue,
      workflowId,
      args: [{ configId: redcapConfigId }],
    });
    const seconds = (performance.now() - started) / 1000;
    const { historyLength } = await client.workflow.getHandle(workflowId).describe();
    // Its own calls ask for some fields only (the intakes' calls ask for whole records).
    const redcapCalls = redcap.calls.slice(calls).filter((call) => call.params['fields[0]'] !== undefined).length;
    log(
      `reconcile: ${what}: one run in ${fmt(seconds)} s (checked ${result.checked}, started ${result.started}, unchanged ${result.unchanged});` +
        ` ${redcapCalls} Export Records calls; history ${historyLength} events`,
    );
  };

  // 1. Filed as REDCap has them (as their intakes would have filed them).
  save(0);
  await sql.execute(
    `insert into redcap_record (config_id, record, event_name, entry_date, comment, "user", session_name, created_at)
       select ?, 'R' || lpad(i::text, 6, '0'), '', '2026-11-20', 'scan ' || i, '42', 'SPN01_CMH_9' || lpad(i::text, 5, '0') || '_01_01', now()
       from generate_series(0, ? - 1) i`,
    [redcapConfigId, rows],
  );
  await reconcile(`${rows} rows, all filed`);

  // 2. As many again, which no trigger announced.
  save(rows);
  await reconcile(`${rows} more rows, none filed`);
  await new Promise((resolve) => setTimeout(resolve, 60_000));
  log(`reconcile: a minute after that run, its intakes had filed ${(await filed()) - rows} of the ${rows} records`);
}
