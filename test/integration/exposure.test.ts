/**
 * Safe network defaults of the API (docs/security.md): it listens on 127.0.0.1 unless HOST says otherwise, and off
 * loopback `npm run api` and `npm start` refuse to start without DET_SECRET (DET_SECRET=none accepts the risk), in
 * one line that names the variables, before anything is started.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { assertSafeExposure, ConfigError, isLoopback, loadConfig } from '../../src/config';
import type { Orm } from '../../src/db/orm';
import { createTestDatabase } from '../support/db';
import { freePort } from '../support/ports';
import { startServiceProcess, startTsProcess, waitForProcess, type ServiceProcess } from '../support/processes';
import { devServerAddress } from '../support/temporal';

jest.setTimeout(120_000);

let orm: Orm;
let databaseUrl: string;
const started: ServiceProcess[] = [];

beforeAll(async () => {
  ({ orm, url: databaseUrl } = await createTestDatabase());
});

afterAll(async () => {
  for (const child of started) await child.stop();
  await orm.close();
});

/** Runs a process to its end; what it printed. */
async function runToEnd(child: ServiceProcess): Promise<{ ended: string; output: string }> {
  started.push(child);
  await new Promise((resolve) => child.child.once('exit', resolve));
  return { ended: child.ended()!, output: child.output() };
}

/** Resolves true when a TCP connection to host:port opens. */
const connects = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

const REFUSAL =
  /^npm (run api|start): HOST=0\.0\.0\.0 is not a loopback address and DET_SECRET is unset: .*Set DET_SECRET .*DET_SECRET=none to accept that risk/m;

test('npm run api off loopback without DET_SECRET: refuses to start, one line naming HOST and DET_SECRET', async () => {
  const run = await runToEnd(
    startServiceProcess('api', {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: devServerAddress(),
      HOST: '0.0.0.0',
      PORT: String(await freePort()),
      DET_SECRET: '',
    }),
  );
  expect(run.ended).toBe('code 1');
  expect(run.output).toMatch(REFUSAL);
  expect(run.output).not.toMatch(/API listening/);
  expect(run.output).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
});

test('npm start off loopback without DET_SECRET: refuses before starting PostgreSQL or Temporal', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exposure-'));
  try {
    const run = await runToEnd(
      startTsProcess(path.resolve(__dirname, '..', '..', 'src', 'start.ts'), [], {
        HOST: '0.0.0.0',
        PORT: String(await freePort()),
        DET_SECRET: '',
        DATA_DIR: dataDir,
        DATABASE_URL: '',
        TEMPORAL_ADDRESS: '',
      }),
    );
    expect(run.ended).toBe('code 1');
    expect(run.output).toMatch(REFUSAL);
    expect(fs.readdirSync(dataDir)).toEqual([]); // no embedded PostgreSQL, no Temporal file
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('by default the API listens on 127.0.0.1 only: not on the machine’s other addresses', async () => {
  const port = await freePort();
  const api = startServiceProcess('api', {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: devServerAddress(),
    PORT: String(port),
    HOST: '',
    DET_SECRET: '',
  });
  started.push(api);
  await waitForProcess(api, () => api.output().includes('API listening'), 'the API to listen');
  expect(api.output()).toContain(`API listening on http://127.0.0.1:${port}`);
  expect(await connects('127.0.0.1', port)).toBe(true);
  const others = Object.values(os.networkInterfaces())
    .flat()
    .filter((address) => address && !address.internal && address.family === 'IPv4')
    .map((address) => address!.address);
  for (const address of others)
    expect({ address, connects: await connects(address, port) }).toEqual({ address, connects: false });
});

test('the rule: loopback needs nothing; off loopback DET_SECRET, or DET_SECRET=none (which is no secret)', () => {
  for (const host of ['127.0.0.1', '127.0.1.1', '::1', '[::1]', 'localhost']) expect(isLoopback(host)).toBe(true);
  for (const host of ['0.0.0.0', '::', '192.0.2.2', 'fd00::2', 'scan-monitor.lab.example.org'])
    expect(isLoopback(host)).toBe(false);

  expect(() => assertSafeExposure(loadConfig({}))).not.toThrow();
  expect(() => assertSafeExposure(loadConfig({ HOST: '0.0.0.0' }))).toThrow(ConfigError);
  expect(() => assertSafeExposure(loadConfig({ HOST: '0.0.0.0', DET_SECRET: 's3cret' }))).not.toThrow();
  const waived = loadConfig({ HOST: '0.0.0.0', DET_SECRET: 'none' });
  expect(() => assertSafeExposure(waived)).not.toThrow();
  expect(waived).toMatchObject({ detSecret: undefined, detSecretWaived: true });
});
