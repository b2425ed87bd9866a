/**
 * `npm run bench`: prints figures, never fails on speed. Everything runs on loopback against servers of its
 * own (embedded PostgreSQL; the Temporal dev server in memory, or the production temporal-server on that
 * PostgreSQL), the API and the worker as child processes. Every result line starts with the server kind.
 *   npm run bench -- [--duration 10] [--fleet 10000] [--rows 5000] [--experiments 5000] [--sessions 50000]
 *                    [--only intake|fleet|reconcile|xnat|lab|pages] [--server dev|production|both]
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { Connection, Client } from '@temporalio/client';
import { loadConfig } from '../src/config';
import { RedcapConfig } from '../src/db/entities';
import { migrate, openDatabase } from '../src/db/orm';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle';
import { applySmallLab } from '../test/support/lab-config';
import { freePort } from '../test/support/ports';
import {
  startCompiledServiceProcess,
  startServiceProcess,
  waitForProcess,
  type ServiceProcess,
} from '../test/support/processes';
import { benchFleet, startNoopWorker } from './fleet';
import { benchIntake } from './intake';
import { benchLab } from './lab';
import { benchPages } from './pages';
import { benchReconcile } from './reconcile';
import { seedSessions } from './seed';
import { benchXnat } from './xnat';
import { FakeRedcap } from '../test/support/fake-redcap';
import { startBenchServices } from './services';
import { benchStack } from './stack';
import { fmt, printer } from './stats';

const WORKER_NODE_OPTIONS = '--max-old-space-size=128';
import type { TemporalServerKind } from '../test/support/server-kinds';

async function main(): Promise<void> {
  const options = new Command()
    .option('--duration <seconds>', 'seconds per intake level', '10')
    .option('--fleet <count>', 'ScanImportWorkflows in the fleet', '10000')
    .option('--rows <count>', 'REDCap rows to reconcile', '5000')
    .option('--experiments <count>', 'XNAT experiments in the project synced', '5000')
    .option('--sessions <count>', "sessions in the database for the lab's view and pages", '50000')
    .option('--only <part>', 'intake, fleet, reconcile, xnat, lab or pages')
    .option('--server <kind>', 'Temporal server: dev, production or both', 'dev')
    .parse()
    .opts<{
      duration: string;
      fleet: string;
      rows: string;
      experiments: string;
      sessions: string;
      only?: string;
      server: string;
    }>();
  const servers: TemporalServerKind[] =
    options.server === 'both'
      ? ['dev', 'production']
      : options.server === 'dev' || options.server === 'production'
        ? [options.server]
        : [];
  if (servers.length === 0) throw new Error(`--server: expected dev, production or both, got '${options.server}'`);
  console.log(
    `bench: ${os.cpus().length} cores, ${os.cpus()[0]?.model}, node ${process.version}, ${new Date().toISOString()}`,
  );
  for (const server of servers) await benchOn(server, options);
}

/**
 * The worker's process settings as the image sets them (Dockerfile, docker-compose.yml; docs/operating.md "Tuning
 * the worker"): a bounded V8 heap and two malloc arenas. WORKER_NODE_OPTIONS and MALLOC_ARENA_MAX override them here.
 */
function workerProcessEnv(): Record<string, string> {
  return {
    NODE_OPTIONS: process.env.WORKER_NODE_OPTIONS ?? WORKER_NODE_OPTIONS,
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
  };
}

/** `npm run api` as a child process on a free port, once it is ready. */
async function startApi(env: Record<string, string>): Promise<ServiceProcess & { url: string }> {
  const port = await freePort();
  const api = startServiceProcess('api', { ...env, PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await waitForProcess(
    api,
    () =>
      fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      ),
    'the API to be ready',
  );
  return { ...api, url };
}

async function benchOn(
  server: TemporalServerKind,
  options: { duration: string; fleet: string; rows: string; experiments: string; sessions: string; only?: string },
): Promise<void> {
  const log = printer(server);
  const services = await startBenchServices(server);
  log(
    `Temporal ${server === 'dev' ? 'dev server (temporal server start-dev, in memory)' : 'temporal-server on PostgreSQL'} at ${services.temporalAddress}`,
  );
  const children: Array<{ stop(): Promise<void> }> = [];
  try {
    const env = {
      DATABASE_URL: services.databaseUrl,
      TEMPORAL_ADDRESS: services.temporalAddress,
      DATA_DIR: services.workDir,
      LOG_LEVEL: 'warn',
      // No schedules: the reconciliation part runs its one reconciliation itself.
      RECONCILE_INTERVAL: 'off',
    };
    const orm = await openDatabase(services.databaseUrl);
    await migrate(orm);
    // The REDCap URL is never called: no worker polls the intake queue in the bench.
    await applySmallLab(orm.em.fork(), 'https://redcap.example.org/', 'bench-token-not-used');
    const redcapConfigId = (await orm.em.fork().findOneOrFail(RedcapConfig, { project: 1234 })).id;
    const client = new Client({ connection: await Connection.connect({ address: services.temporalAddress }) });

    if (options.only === undefined || options.only === 'intake') {
      // No worker polls this queue: the figure is the API's own work (parse, look up, start), not the intake's.
      const api = await startApi({ ...env, TEMPORAL_TASK_QUEUE: 'bench-intake' });
      children.push(api);
      await benchIntake({
        apiUrl: api.url,
        client,
        taskQueue: 'bench-intake',
        durationSeconds: Number(options.duration),
        levels: [1, 16, 64],
        log,
      });
      await api.stop();
    }

    if (options.only === undefined || options.only === 'fleet') {
      // The worker runs as the image runs it: compiled, on a prebuilt bundle (ts-node's compiler and webpack
      // would stay in its memory).
      execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], {
        cwd: path.resolve(__dirname, '..'),
        stdio: 'inherit',
      });
      const bundlePath = path.join(services.workDir, 'workflow-bundle.js');
      await writeWorkflowBundle(bundlePath);
      const sdkMetricsPort = await freePort();
      const worker = startCompiledServiceProcess('worker', {
        ...env,
        LOG_LEVEL: 'info',
        TEMPORAL_TASK_QUEUE: 'bench-fleet',
        WORKFLOW_BUNDLE_PATH: bundlePath,
        WORKER_SDK_METRICS_PORT: String(sdkMetricsPort),
        ...workerProcessEnv(),
      });
      children.push(worker);
      await waitForProcess(worker, () => worker.output().includes('worker running'), 'the worker to start', 120_000);
      const noop = await startNoopWorker({ ...env, ...workerProcessEnv() }, services.workDir);
      children.push(noop);
      // The worker's WORKER_* tuning comes from our environment, as the worker's does.
      const config = loadConfig({ ...process.env, ...env, TEMPORAL_TASK_QUEUE: 'bench-fleet' });
      await benchFleet({
        orm,
        client,
        config,
        worker: {
          pid: worker.child.pid!,
          sdkMetricsUrl: `http://127.0.0.1:${sdkMetricsPort}/metrics`,
          env: workerProcessEnv(),
        },
        noop,
        count: Number(options.fleet),
        redcapConfigId,
        log,
      });
      await noop.stop();
      await worker.stop();
      // Once, on the dev server: the stack npm start runs.
      if (server === 'dev') await benchStack({ count: Number(options.fleet), log });
    }

    if (options.only === undefined || options.only === 'xnat') {
      // A worker for the XnatSyncWorkflow run: it finds the bench's fake XNAT through the XNAT config.
      const taskQueue = 'bench-xnat';
      const startWorker = async () => {
        const worker = startServiceProcess('worker', {
          ...env,
          LOG_LEVEL: 'info',
          TEMPORAL_TASK_QUEUE: taskQueue,
          XNAT_SYNC_INTERVAL: 'off',
          REDCAP_RECORD_DELAY: '30 days',
        });
        children.push(worker);
        await waitForProcess(worker, () => worker.output().includes('worker running'), 'the worker to start', 120_000);
      };
      await benchXnat({
        orm,
        experiments: Number(options.experiments),
        checks: 200,
        log,
        worker: { client, taskQueue, start: startWorker },
      });
    }

    // Last: its 5,000 monitors would keep the fleet's count of running monitors from reaching zero.
    if (options.only === undefined || options.only === 'reconcile') {
      const redcap = await FakeRedcap.start();
      const token = 'BE0C4BE0C4BE0C4BE0C4BE0C4BE0C400';
      redcap.addProject({ token, records: [] });
      await applySmallLab(orm.em.fork(), redcap.url, token);
      const reconcileConfigId = (await orm.em.fork().findOneOrFail(RedcapConfig, { url: redcap.url })).id;
      const worker = startServiceProcess('worker', {
        ...env,
        LOG_LEVEL: 'info',
        TEMPORAL_TASK_QUEUE: 'bench-reconcile',
      });
      children.push(worker, { stop: () => redcap.close() });
      await waitForProcess(worker, () => worker.output().includes('worker running'), 'the worker to start', 120_000);
      await benchReconcile({
        orm,
        client,
        redcap,
        token,
        redcapConfigId: reconcileConfigId,
        taskQueue: 'bench-reconcile',
        rows: Number(options.rows),
        log,
      });
    }
    // The lab's view and pages read only the database: after the others, so that their sessions are in no other
    // part's counts (the fleet's sessions are all of CMH's too: its SQL says so). One seeding serves both.
    const lab = options.only === undefined || options.only === 'lab';
    const pages = options.only === undefined || options.only === 'pages';
    if (lab || pages) {
      const seeded = await seedSessions(orm, Number(options.sessions), redcapConfigId);
      log(
        `lab: ${seeded.count} sessions written in ${fmt(seeded.writeSeconds)} s; their states given by the refresh ` +
          `in ${fmt(seeded.refreshSeconds)} s (${fmt(seeded.count / seeded.refreshSeconds, 0)} sessions/s)`,
      );
      const token = 'bench-lab-token';
      const api = await startApi({ ...env, API_TOKEN: token });
      children.push(api);
      if (lab) await benchLab({ orm, apiUrl: api.url, token, durationSeconds: Number(options.duration), log });
      if (pages) {
        await benchPages({
          apiUrl: api.url,
          token,
          seeded,
          durationSeconds: Number(options.duration),
          levels: [1, 16],
          log,
        });
      }
      await api.stop();
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
