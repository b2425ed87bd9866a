/**
 * Entry of `npm run worker`: the Temporal worker that runs the monitors and the intake.
 * Uses only what it is given (DATABASE_URL, TEMPORAL_ADDRESS, ...); starts nothing embedded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { createActivityDeps } from './activity-deps';
import { loadConfig, requireServices, type Config } from './config';
import { openDatabase } from './db/orm';
import { logger } from './logger';
import { connectTemporal } from './temporal/client';

/** A prebuilt workflow bundle (see `npm run build:bundle`) is used when present, as in production images. */
const PREBUILT_BUNDLE = path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js');

export async function createWorker(options: {
  config: Config;
  connection: NativeConnection;
  deps: ActivityDeps;
}): Promise<Worker> {
  const { config, connection, deps } = options;
  const workflowSource = fs.existsSync(PREBUILT_BUNDLE)
    ? { workflowBundle: { codePath: PREBUILT_BUNDLE } }
    : { workflowsPath: require.resolve('../workflows') };
  return Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    ...workflowSource,
    activities: createActivities(deps),
  });
}

async function main(): Promise<void> {
  const config = requireServices(loadConfig());
  const orm = await openDatabase(config.databaseUrl);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const temporal = await connectTemporal({ address: config.temporalAddress, namespace: config.temporalNamespace });
  const worker = await createWorker({ config, connection, deps: createActivityDeps(config, orm, temporal) });
  logger.info({ taskQueue: config.taskQueue, namespace: config.temporalNamespace }, 'worker running');
  // The SDK's runtime shuts the worker down gracefully on SIGINT and SIGTERM.
  await worker.run();
  await connection.close();
  await temporal.connection.close();
  await orm.close();
  logger.info('worker stopped');
}

if (require.main === module) {
  main().catch((err) => {
    logger.fatal({ err }, err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
