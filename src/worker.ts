/**
 * Entry of `npm run worker`: the Temporal worker that runs the monitors and the intake.
 * Uses only what it is given (DATABASE_URL, TEMPORAL_ADDRESS, ...); starts nothing embedded.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { activityDepsFrom, createActivities, type ActivityDeps } from '../activities';
import { loadConfig, requireServices, type Config } from './config';
import { openDatabase } from './db/orm';
import { logger } from './logger';
import { exitOnStartupFailure } from './startup-failure';
import { serveMetrics } from './metrics';
import { connectTemporal } from './temporal/client';
import { installTemporalRuntime } from './temporal/runtime';
import { workflowSource } from './temporal/workflow-bundle';
import { workerTuning } from './temporal/worker-tuning';

export async function createWorker(options: {
  config: Config;
  connection: NativeConnection;
  deps: ActivityDeps;
}): Promise<Worker> {
  const { config, connection, deps } = options;
  // A prebuilt bundle when compiled or WORKFLOW_BUNDLE_PATH is set, else bundled at start (see workflow-bundle.ts).
  const { description, ...source } = workflowSource();
  logger.info({ workflows: description }, 'workflow code');
  return Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    ...source,
    ...workerTuning(config),
    activities: createActivities(deps),
  });
}

async function main(): Promise<void> {
  const config = requireServices(loadConfig());
  installTemporalRuntime(logger, { metricsPort: config.workerSdkMetricsPort }); // the SDK's default shutdown signals: SIGINT, SIGTERM…
  const orm = await openDatabase(config.databaseUrl);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const temporal = await connectTemporal({ address: config.temporalAddress, namespace: config.temporalNamespace });
  const deps = activityDepsFrom(config, orm, temporal);
  const worker = await createWorker({ config, connection, deps });
  const metrics = config.workerMetricsPort ? await serveMetrics(config.workerMetricsPort) : undefined;
  logger.info({ taskQueue: config.taskQueue, namespace: config.temporalNamespace, metricsPort: config.workerMetricsPort }, 'worker running');
  // The SDK's runtime shuts the worker down gracefully on SIGINT and SIGTERM.
  await worker.run();
  metrics?.close();
  deps.mailer.close();
  await connection.close();
  await temporal.connection.close();
  await orm.close();
  logger.info('worker stopped');
}

if (require.main === module) {
  main().catch((err) => exitOnStartupFailure('npm run worker', err));
}
