/**
 * The lab's pages for browser tests: the app (createApp) listening on 127.0.0.1 with a config of the test's own
 * (its PUBLIC_URL is where it listens), and a real OpenID Connect provider in a process of its own.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import type { Orm } from '../../src/db/orm';
import { logger } from '../../src/logger';
import { freePort } from './ports';
import { startTsProcess, waitForProcess, type ServiceProcess } from './processes';

export interface LabService {
  url: string;
  config: Config;
  close(): Promise<void>;
}

/**
 * `base`: the monitors' config (task queue, durations); `env`: the lab's settings (API_TOKEN, OIDC_*, …); `port`:
 * where to listen (known before, for a provider's redirect URI), default any free one.
 */
export async function serveLab(
  orm: Orm,
  temporal: Client,
  base: Config,
  env: Record<string, string>,
  port = 0,
): Promise<LabService> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const own = loadConfig({ PUBLIC_URL: url, ...env });
  const config: Config = { ...base, apiToken: own.apiToken, lab: own.lab };
  server.on('request', createApp({ config, orm, temporal, logger: logger.child({}, { level: 'warn' }) }).callback());
  return {
    url,
    config,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  stop(): Promise<void>;
}

export async function startOidcProvider(redirectUri: string): Promise<TestOidcProvider> {
  const port = await freePort();
  const clientId = 'scan-monitor-test';
  const clientSecret = 'a-client-secret-for-this-test';
  const proc: ServiceProcess = startTsProcess(path.join(__dirname, 'oidc-provider.ts'), [
    String(port),
    clientId,
    clientSecret,
    redirectUri,
  ]);
  await waitForProcess(proc, () => proc.output().includes('ready http://'), 'the OpenID Connect provider to listen');
  return { issuer: `http://127.0.0.1:${port}`, clientId, clientSecret, stop: () => proc.stop() };
}
