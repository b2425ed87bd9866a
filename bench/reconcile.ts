/**
 * (c) Reconciliation of a big project: a fake REDCap with N completed rows no trigger announced, one worker process
 * (`npm run worker`). Times one RedcapReconcileWorkflow run that starts all N intakes, then how long until the intakes
 * have filed every record, then a second run that finds everything filed. Reports the run's own REDCap calls and
 * the length of its history.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Orm } from '../src/db/orm';
import { REDCAP_RECONCILE_WORKFLOW, redcapReconcileScheduleId, type RedcapReconcileResult } from '../surface';
import type { FakeRedcap } from '../test/support/fake-redcap';
import { fmt } from './stats';

export async function benchReconcile(options: {
  orm: Orm;
  client: Client;
  redcap: FakeRedcap;
  token: string;
  redcapConfigId: number;
  taskQueue: string;
  rows: number;
}): Promise<void> {
  const { orm, client, redcap, rows, redcapConfigId } = options;
  for (let i = 0; i < rows; i++) {
    redcap.saveRow(options.token, {
      record_id: `R${String(i).padStart(5, '0')}`,
      session_id: `SPN01_CMH_9${String(i).padStart(5, '0')}_01_01`,
      scan_date: '2026-11-20',
      comments: `scan ${i}`,
      ra_id: '42',
      mri_scan_log_complete: '2',
    });
  }

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
    console.log(
      `reconcile: ${rows} rows, ${what}: one run in ${fmt(seconds)} s (checked ${result.checked}, started ${result.started}, unchanged ${result.unchanged});` +
        ` ${redcapCalls} Export Records calls; history ${historyLength} events`,
    );
    return started;
  };

  const started = await reconcile('none filed');
  const filed = async () => Number((await orm.em.getConnection().execute<Array<{ n: string }>>(`select count(*) as n from redcap_record where config_id = ?`, [redcapConfigId]))[0].n);
  while ((await filed()) < rows) await new Promise((resolve) => setTimeout(resolve, 500));
  console.log(`reconcile: all ${rows} records filed by their intakes ${fmt((performance.now() - started) / 1000)} s after the run began`);
  await reconcile('all filed');
}
