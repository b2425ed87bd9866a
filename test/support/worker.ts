/**
 * The service's worker in a test's own process: src/worker.ts createWorker with the real activities, their
 * dependencies wired to the test's servers (its database, Temporal and SMTP server), on the config's task queue.
 */
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { activityDepsFrom, type ActivityDeps } from '../../activities';
import type { Config } from '../../src/config';
import type { Orm } from '../../src/db/orm';
import type { Logger } from '../../src/logger';
import { createWorker, type ServiceWorker } from '../../src/worker';

export interface TestWorker {
  /** What its activities were built from: the mailer is its own (SMTP_URL of the config, or the outbox). */
  deps: ActivityDeps;
  /** The monitors' worker's state (RUNNING, STOPPING, STOPPED, …). */
  getState(): ReturnType<ServiceWorker['getState']>;
  /** Shuts it down (running activities get SHUTDOWN_GRACE), waits until it has stopped, closes its mailer. */
  stop(): Promise<void>;
}

export async function startTestWorker(options: {
  config: Config;
  orm: Orm;
  /** A client and a worker connection to the same server (connectDevServer, a TestWorkflowEnvironment). */
  server: { client: Client; nativeConnection: NativeConnection };
  /** Default: the service logger. */
  logger?: Logger;
}): Promise<TestWorker> {
  const { config, orm, server } = options;
  const deps = activityDepsFrom(config, orm, server.client);
  if (options.logger) deps.logger = options.logger;
  let worker: ServiceWorker;
  try {
    worker = await createWorker({ config, connection: server.nativeConnection, deps });
  } catch (err) {
    deps.mailer.close();
    throw err;
  }
  const running = worker.run();
  return {
    deps,
    getState: () => worker.getState(),
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      try {
        await running;
      } finally {
        deps.mailer.close();
      }
    },
  };
}
