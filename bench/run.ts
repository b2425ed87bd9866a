/**
 * `npm run bench`: prints figures, never fails on speed. Everything runs on loopback against servers of its
 * own (embedded PostgreSQL, Temporal dev server in memory), the API and the worker as child processes.
 *   npm run bench -- [--duration 10] [--fleet 10000] [--only intake|fleet]
 */
import os from 'node:os';
import { Command } from 'commander';
import { Connection, Client } from '@temporalio/client';
import { loadConfig } from '../src/config';
import { RedcapConfig } from '../src/db/entities';
import { migrate, openDatabase } from '../src/db/orm';
import { applySmallLab } from '../test/support/lab-config';
import { freePort } from '../test/support/ports';
import { eventually, startServiceProcess } from '../test/support/processes';
import { benchFleet } from './fleet';
import { benchIntake } from './intake';
import { startBenchServices } from './services';

async function main(): Promise<void> {
  const options = new Command()
    .option('--duration <seconds>', 'seconds per intake level', '10')
    .option('--fleet <count>', 'ScanImportWorkflows in the fleet', '10000')
    .option('--only <part>', 'intake or fleet')
    .parse()
    .opts<{ duration: string; fleet: string; only?: string }>();
  console.log(`bench: ${os.cpus().length} cores, ${os.cpus()[0]?.model}, node ${process.version}, ${new Date().toISOString()}`);

  const services = await startBenchServices();
  const children: Array<{ stop(): Promise<void> }> = [];
  try {
    const env = {
      DATABASE_URL: services.databaseUrl,
      TEMPORAL_ADDRESS: services.temporalAddress,
      DATA_DIR: services.workDir,
      LOG_LEVEL: 'warn',
    };
    const orm = await openDatabase(services.databaseUrl);
    await migrate(orm);
    // The REDCap URL is never called: no worker polls the intake queue in the bench.
    await applySmallLab(orm.em.fork(), 'https://redcap.example.org/', 'bench-token-not-used');
    const redcapConfigId = (await orm.em.fork().findOneOrFail(RedcapConfig, { project: 1234 })).id;
    const client = new Client({ connection: await Connection.connect({ address: services.temporalAddress }) });

    if (options.only !== 'fleet') {
      // No worker polls this queue: the figure is the API's own work (parse, look up, start), not the intake's.
      const port = await freePort();
      const api = startServiceProcess('api', { ...env, PORT: String(port), TEMPORAL_TASK_QUEUE: 'bench-intake' });
      children.push(api);
      await eventually(() => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false), 'the API to be ready');
      await benchIntake({ apiUrl: `http://127.0.0.1:${port}`, client, taskQueue: 'bench-intake', server: 'dev', durationSeconds: Number(options.duration), levels: [1, 16, 64] });
      await api.stop();
    }

    if (options.only !== 'intake') {
      const sdkMetricsPort = await freePort();
      const worker = startServiceProcess('worker', { ...env, LOG_LEVEL: 'info', TEMPORAL_TASK_QUEUE: 'bench-fleet', WORKER_SDK_METRICS_PORT: String(sdkMetricsPort) });
      children.push(worker);
      await eventually(() => worker.output().includes('worker running'), 'the worker to start', 120_000);
      const config = loadConfig({ ...env, TEMPORAL_TASK_QUEUE: 'bench-fleet' });
      await benchFleet({
        orm,
        client,
        config,
        server: 'dev',
        worker: { pid: worker.child.pid!, sdkMetricsUrl: `http://127.0.0.1:${sdkMetricsPort}/metrics` },
        count: Number(options.fleet),
        redcapConfigId,
        bareSeconds: Number(options.duration),
      });
    }
    await client.connection.close();
    await orm.close();
  } finally {
    for (const child of children) await child.stop();
    await services.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
