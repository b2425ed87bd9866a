/**
 * Entry of `npm run worker`: the Temporal worker that runs the monitors and the intake.
 * Uses only what it is given (DATABASE_URL, TEMPORAL_ADDRESS, ...); starts nothing embedded.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { jobsTaskQueue } from '../surface';
import { activityDepsFrom, createActivities, type ActivityDeps } from '../activities';
import { loadConfig, requireServices, type Config } from './config';
import { openDatabase } from './db/orm';
import { logger } from './logger';
import { exitOnStartupFailure } from './startup-failure';
import { serveMetrics } from './metrics';
import { connectTemporal, temporalSettings, temporalUnavailable, type TemporalSettings } from './temporal/client';
import { serviceDataConverter } from './temporal/data-converter';
import { installTemporalRuntime } from './temporal/runtime';
import { syncDigestSchedulesAtStart } from './temporal/digest-schedules';
import { syncReconcileSchedulesAtStart } from './temporal/schedules';
import { workflowSource } from './temporal/workflow-bundle';
import { workerTuning } from './temporal/worker-tuning';

/**
 * What runs the service's Temporal work: two workers in one process. One polls TEMPORAL_TASK_QUEUE (the
 * workflows and the short activities: database, REDCap, email); the other polls the jobs queue (surface
 * jobsTaskQueue) with JOB_SLOTS slots for the job activities, which may run for up to an hour each. Neither
 * can take the other's slots. Both stop together: on shutdown they stop polling, let running activities finish
 * for SHUTDOWN_GRACE, then cancel them (a job stopped so is submitted again later).
 */
export class ServiceWorker {
  constructor(
    private readonly workers: Worker[],
    /** Called once when shutdown starts. */
    private readonly onShutdown: () => void = () => undefined,
  ) {}

  /** Runs both until shutdown; if one stops with an error, the other is shut down too and the error thrown. */
  async run(): Promise<void> {
    const runs = await Promise.allSettled(
      this.workers.map((worker) =>
        worker.run().catch((err: unknown) => {
          this.shutdown();
          throw err;
        }),
      ),
    );
    const failed = runs.find((run): run is PromiseRejectedResult => run.status === 'rejected');
    if (failed) throw failed.reason;
  }

  shutdown(): void {
    if (this.workers[0].getState() === 'RUNNING') this.onShutdown();
    for (const worker of this.workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  }

  /** The monitors' worker's state (RUNNING, STOPPING, STOPPED, …). */
  getState(): ReturnType<Worker['getState']> {
    return this.workers[0].getState();
  }
}

/** The workers' connection to Temporal, with the TLS of `settings`. */
export async function connectWorkerTemporal(settings: TemporalSettings): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({
      address: settings.address,
      ...(settings.tls ? { tls: settings.tls } : {}),
    });
  } catch (err) {
    throw temporalUnavailable(settings, err);
  }
}

export async function createWorker(options: {
  config: Config;
  connection: NativeConnection;
  deps: ActivityDeps;
}): Promise<ServiceWorker> {
  const { config, connection, deps } = options;
  // A prebuilt bundle when compiled or WORKFLOW_BUNDLE_PATH is set, else bundled at start (see workflow-bundle.ts).
  const { description, ...source } = workflowSource();
  logger.info({ workflows: description }, 'workflow code');
  // The SDK cancels the activities still running when the grace is over; this also stops a job that had been let
  // run on after its monitor asked the attempt to stop (scansArrived), which no second cancellation reaches.
  const grace = new AbortController();
  const activities = createActivities({ ...deps, graceOver: grace.signal });
  const common = {
    connection,
    namespace: config.temporalNamespace,
    dataConverter: serviceDataConverter(config.codecKeys),
    shutdownGraceTime: config.shutdownGraceMs,
    // Past the grace, cancelled jobs get 10 s to stop (then SIGKILL); a worker still not done after that is abandoned.
    shutdownForceTime: config.shutdownGraceMs + 30_000,
  };
  const monitors = await Worker.create({
    ...common,
    taskQueue: config.taskQueue,
    ...source,
    ...workerTuning(config),
    // Every activity, the job activities too: monitors started before the jobs queue existed schedule them here.
    activities,
  });
  const { downloadScans, runPostDownload } = activities;
  const jobs = await Worker.create({
    ...common,
    taskQueue: jobsTaskQueue(config.taskQueue),
    activities: { downloadScans, runPostDownload },
    maxConcurrentActivityTaskExecutions: config.jobSlots,
    // A running job hears of a cancel (scansArrived, cancel, its monitor gone) within 10 s, not 80% of its heartbeat timeout.
    maxHeartbeatThrottleInterval: '10 seconds',
  });
  return new ServiceWorker([monitors, jobs], () =>
    setTimeout(() => grace.abort(), config.shutdownGraceMs + 1_000).unref(),
  );
}

async function main(): Promise<void> {
  const config = requireServices(loadConfig());
  // Shutdown on SIGINT and SIGTERM is ours (below): both workers, and the end of the grace for running jobs.
  installTemporalRuntime(logger, { shutdownSignals: [], metricsPort: config.workerSdkMetricsPort });
  const orm = await openDatabase(config.databaseUrl, config.databaseSsl);
  const settings = temporalSettings(config);
  const connection = await connectWorkerTemporal(settings);
  const temporal = await connectTemporal(settings);
  const deps = activityDepsFrom(config, orm, temporal);
  const worker = await createWorker({ config, connection, deps });
  await syncReconcileSchedulesAtStart(orm, temporal, config, logger);
  await syncDigestSchedulesAtStart(orm, temporal, config, logger);
  const metrics = config.workerMetricsPort ? await serveMetrics(config.workerMetricsPort) : undefined;
  logger.info(
    {
      taskQueue: config.taskQueue,
      jobsTaskQueue: jobsTaskQueue(config.taskQueue),
      jobSlots: config.jobSlots,
      tuning: workerTuning(config),
      namespace: config.temporalNamespace,
      metricsPort: config.workerMetricsPort,
    },
    'worker running',
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (worker.getState() !== 'RUNNING') return;
      logger.info(
        { signal, graceMs: config.shutdownGraceMs },
        'worker stopping: no new work; running activities get SHUTDOWN_GRACE to finish',
      );
      worker.shutdown();
    });
  }
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
