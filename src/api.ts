/**
 * Entry of `npm run api`: the HTTP process. Uses only what it is given; starts nothing embedded.
 */
import http from 'node:http';
import type { Client } from '@temporalio/client';
import { createApp } from './app';
import { assertSafeExposure, loadConfig, requireServices, type Config } from './config';
import { ormSsl } from './db/mikro-orm.config';
import { openDatabase, type Orm } from './db/orm';
import { watchedConfigCache } from './redcap/config-cache';
import { logger } from './logger';
import { exitOnStartupFailure } from './startup-failure';
import { connectTemporal, temporalSettings } from './temporal/client';

/** Starts the HTTP server; resolves once it listens. */
export async function listen(config: Config, deps: { orm: Orm; temporal: Client }): Promise<http.Server> {
  assertSafeExposure(config);
  const configs = watchedConfigCache(
    deps.orm.config.get('clientUrl')!,
    logger,
    ormSsl(deps.orm.config.get('driverOptions')),
  );
  const app = createApp({ config, ...deps, logger, redcapConfigs: configs.cache });
  const server = http.createServer(app.callback());
  server.once('close', () => void configs.close());
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      void configs.close();
      reject(err);
    });
    server.listen(config.port, config.host, resolve);
  });
  if (config.detSecretWaived) logger.warn('DET_SECRET=none: the API takes Data Entry Triggers without a secret');
  logger.info({ host: config.host, port: config.port }, `API listening on ${apiUrl(config)}`);
  return server;
}

/** Where the API answers, for messages: its listen address (this machine's loopback when it listens on all). */
export function apiUrl(config: Config): string {
  const host = ['0.0.0.0', '::'].includes(config.host) ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

async function main(): Promise<void> {
  const config = requireServices(loadConfig());
  assertSafeExposure(config);
  const orm = await openDatabase(config.databaseUrl, config.databaseSsl);
  const temporal = await connectTemporal(temporalSettings(config));
  const server = await listen(config, { orm, temporal });
  const stop = async () => {
    logger.info('API stopping');
    await closeServer(server);
    await temporal.connection.close();
    await orm.close();
  };
  const stopOn = (signal: NodeJS.Signals) =>
    process.once(signal, () => {
      stop().catch((err) => {
        logger.error({ err }, 'API did not stop cleanly');
        process.exitCode = 1;
      });
    });
  stopOn('SIGINT');
  stopOn('SIGTERM');
}

if (require.main === module) {
  main().catch((err) => exitOnStartupFailure('npm run api', err));
}
