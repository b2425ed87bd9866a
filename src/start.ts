/**
 * Entry of `npm start`: everything on one machine. Where DATABASE_URL is unset, an embedded PostgreSQL
 * with its data under DATA_DIR; where TEMPORAL_ADDRESS is unset, a Temporal dev server (SQLite under
 * DATA_DIR, Web UI on 8233). Then migrations, search attributes, the API and a worker.
 * Ctrl-C (SIGINT) or SIGTERM stops it all cleanly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { activityDepsFrom } from '../activities';
import { apiUrl, closeServer, listen } from './api';
import { assertSafeExposure, loadConfig } from './config';
import { EMBEDDED_DATABASE, startEmbeddedPostgres } from './db/embedded-postgres';
import { migrate, openDatabase } from './db/orm';
import { logger } from './logger';
import { connectTemporal, embeddedTemporalFile, registerSearchAttributes, temporalSettings } from './temporal/client';
import { startDevServer } from './dev/dev-server';
import { supervise } from './dev/supervise';
import { exitOnStartupFailure } from './startup-failure';
import { installTemporalRuntime } from './temporal/runtime';
import { syncDigestSchedulesAtStart } from './temporal/digest-schedules';
import { syncReconcileSchedulesAtStart } from './temporal/schedules';
import { connectWorkerTemporal, createWorker } from './worker';

async function main(): Promise<void> {
  const config = loadConfig();
  assertSafeExposure(config);
  // We stop the worker ourselves, in order with everything else, rather than on the SDK's own signal handlers.
  installTemporalRuntime(logger, { shutdownSignals: [] });
  fs.mkdirSync(config.dataDir, { recursive: true });
  /** What to stop, in reverse order of start, each with how long it may take. */
  const cleanups: Array<[string, () => Promise<unknown>, number?]> = [];
  let stopping: Promise<void> | undefined;
  const stop = (reason: string) =>
    (stopping ??= (async () => {
      logger.info({ reason }, 'stopping');
      for (const [name, cleanup, timeoutMs = 20_000] of cleanups.reverse()) {
        logger.debug(`stopping ${name}`);
        await withTimeout(cleanup(), timeoutMs, `stopping ${name}`).catch((err) =>
          logger.warn({ err }, `stopping ${name} failed`),
        );
      }
      logger.info('stopped');
    })());
  process.on('SIGINT', () => void stop('SIGINT').then(() => process.exit(0)));
  process.on('SIGTERM', () => void stop('SIGTERM').then(() => process.exit(0)));
  /** Something it runs cannot be kept running: stop all, say what in one line, exit non-zero (never stay up unready). */
  const fail = (reason: string) =>
    void stop(reason).then(() => {
      process.stderr.write(`npm start: ${reason}\n`);
      process.exit(1);
    });

  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      const postgresDir = path.join(config.dataDir, 'postgres');
      logger.info({ dir: postgresDir, port: config.embeddedPostgresPort }, 'starting embedded PostgreSQL');
      const pg = await supervise(
        'the embedded PostgreSQL',
        () =>
          startEmbeddedPostgres({
            dataDir: postgresDir,
            port: config.embeddedPostgresPort,
            database: EMBEDDED_DATABASE,
            onLog: (line) => logger.debug({ postgres: line.trim() }),
          }),
        { log: logger, onGiveUp: fail },
      );
      cleanups.push(['PostgreSQL', () => pg.stop()]);
      databaseUrl = pg.current().url; // the same at every restart: same port, same data and password
    }

    let temporalAddress = config.temporalAddress;
    if (!temporalAddress) {
      const dbFilename = embeddedTemporalFile(config.dataDir);
      logger.info({ dbFilename, port: config.embeddedTemporalPort }, 'starting Temporal dev server');
      const devServer = await supervise(
        'the Temporal dev server',
        () =>
          startDevServer({
            dbFilename,
            port: config.embeddedTemporalPort,
            uiPort: config.temporalUiPort,
            namespace: config.temporalNamespace,
          }),
        { log: logger, onGiveUp: fail },
      );
      cleanups.push(['Temporal dev server', () => devServer.stop()]);
      temporalAddress = devServer.current().address;
      logger.info(`Temporal Web UI on http://127.0.0.1:${config.temporalUiPort}`);
    }

    // TLS settings are for DATABASE_URL and TEMPORAL_ADDRESS only: the embedded services speak plain TCP on loopback.
    const orm = await openDatabase(databaseUrl, config.databaseUrl ? config.databaseSsl : undefined);
    cleanups.push(['database connection', () => orm.close()]);
    const applied = await migrate(orm);
    logger.info({ applied }, applied.length ? 'migrations applied' : 'database schema up to date');

    const settings = temporalSettings(config, temporalAddress);
    const temporal = await connectTemporal(settings);
    cleanups.push(['Temporal client', () => temporal.connection.close()]);
    await registerSearchAttributes(temporal, config.temporalNamespace);
    await syncReconcileSchedulesAtStart(orm, temporal, config, logger);
    await syncDigestSchedulesAtStart(orm, temporal, config, logger);

    const connection = await connectWorkerTemporal(settings);
    cleanups.push(['worker connection', () => connection.close()]);
    const deps = activityDepsFrom(config, orm, temporal);
    cleanups.push(['mail transport', async () => deps.mailer.close()]);
    // The API stops after the worker: a job finishing within SHUTDOWN_GRACE can still register its scans.
    const server = await listen(config, { orm, temporal });
    cleanups.push(['API', () => closeServer(server)]);

    const worker = await createWorker({ config, connection, deps });
    const workerDone = worker.run();
    // The worker reconnects by itself; one that stops with an error does not come back: neither does npm start.
    workerDone.catch((err: unknown) =>
      fail(`the worker stopped: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`),
    );
    cleanups.push([
      'worker',
      async () => {
        logger.info(
          { graceMs: config.shutdownGraceMs },
          'worker stopping: no new work; running activities get SHUTDOWN_GRACE to finish',
        );
        worker.shutdown();
        await workerDone;
      },
      config.shutdownGraceMs + 40_000,
    ]);
    logger.info({ api: apiUrl(config), webUi: `http://127.0.0.1:${config.temporalUiPort}` }, 'ready');
  } catch (err) {
    await stop('start-up failed');
    exitOnStartupFailure('npm start', err);
  }
}

/** Bounds a wait; the timer also keeps the process alive until the wait is over. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

main().catch((err) => exitOnStartupFailure('npm start', err));
