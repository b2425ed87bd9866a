/**
 * The fleet bench's no-op worker: SameShapeNoop (bench/noop-workflow.ts) from the prebuilt bundle at
 * WORKFLOW_BUNDLE_PATH, no activities, with our worker's tuning (src/temporal/worker-tuning.ts) and the SDK's
 * metrics on WORKER_SDK_METRICS_PORT, on TEMPORAL_TASK_QUEUE. Prints `worker running` once it polls.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { loadConfig } from '../src/config';
import { workerTuning } from '../src/temporal/worker-tuning';

async function main(): Promise<void> {
  const config = loadConfig();
  const codePath = process.env.WORKFLOW_BUNDLE_PATH;
  const { temporalAddress, workerSdkMetricsPort } = config;
  if (!codePath || !temporalAddress || !workerSdkMetricsPort)
    throw new Error('set WORKFLOW_BUNDLE_PATH, TEMPORAL_ADDRESS and WORKER_SDK_METRICS_PORT');
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: {
      metrics: { prometheus: { bindAddress: `127.0.0.1:${workerSdkMetricsPort}` } },
    },
  });
  const connection = await NativeConnection.connect({ address: temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    workflowBundle: { codePath },
    ...workerTuning(config),
  });
  console.log('worker running');
  await worker.run(); // until SIGINT or SIGTERM (the SDK's own handlers)
  await connection.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
