/**
 * Entry of `npm run codec-server`: decrypts and encrypts payloads for the Temporal Web UI and CLI of the operators
 * who hold CODEC_SERVER_TOKEN (src/temporal/codec-server.ts), with the keys of TEMPORAL_CODEC_KEYS. It listens on
 * CODEC_SERVER_HOST:CODEC_SERVER_PORT (default 127.0.0.1:8089) and needs nothing else: no database, no Temporal.
 */
import http from 'node:http';
import { ConfigError, loadConfig } from './config';
import { logger } from './logger';
import { exitOnStartupFailure } from './startup-failure';
import { createCodecApp } from './temporal/codec-server';

async function main(): Promise<void> {
  const config = loadConfig();
  const { token, host, port, corsOrigins } = config.codecServer;
  if (config.codecKeys.length === 0)
    throw new ConfigError(
      'TEMPORAL_CODEC_KEYS (or TEMPORAL_CODEC_KEY) must be set: the codec server has no key to use',
    );
  if (!token)
    throw new ConfigError(
      'CODEC_SERVER_TOKEN must be set: the codec server decrypts participant data for whoever holds it',
    );
  const server = http.createServer(createCodecApp({ keys: config.codecKeys, token, corsOrigins, logger }).callback());
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  logger.info(
    { host, port, corsOrigins, keyIds: config.codecKeys.map((key) => key.id) },
    `codec server listening on http://${host}:${port}`,
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
}

if (require.main === module) {
  main().catch((err) => exitOnStartupFailure('npm run codec-server', err));
}
