/**
 * Payload encryption end to end on the suite's dev server: an intake read from the fake REDCap by the service's
 * worker with TEMPORAL_CODEC_KEYS, started by a client with the same keys, leaves nothing of the participant in
 * Temporal's stored history (nor does one with the codec off, since item 2 of issue 23, but its payloads are plain
 * JSON where the codec's are ciphertext), and a
 * payload of a key the worker does not hold fails the workflow task naming the key id, never the worker. It also
 * measures what the codec does to an intake's history size.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config';
import { RedcapConfig } from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { startRedcapIntake } from '../../src/temporal/intakes';
import type { RedcapIntakeResult } from '../../surface';
import { createTestDatabase } from '../support/db';
import { workflowTaskFailures } from '../support/determinism';
import { FakeRedcap, redcapFixtureRows } from '../support/fake-redcap';
import { seedLab } from '../support/lab';
import { eventually, startTsProcess } from '../support/processes';
import { connectDevServer } from '../support/temporal';
import { startTestWorker, type TestWorker } from '../support/worker';

const TOKEN = 'C0DEC0DEC0DEC0DEC0DEC0DEC0DEC0DE';
const RUN = randomUUID().replace(/-/g, '').slice(0, 4).toUpperCase();
const KEY = randomBytes(32).toString('base64');
const COMMENT = `Participant ${RUN} disclosed claustrophobia`;
const USER = `ra-${RUN.toLowerCase()}`;

interface Side {
  name: 'codec off' | 'codec on';
  config: Config;
  server: Awaited<ReturnType<typeof connectDevServer>>;
  worker: TestWorker;
}

let orm: Orm;
let fake: FakeRedcap;
let redcap: RedcapConfig;
const sides: Side[] = [];
const toTerminate: Array<[Client, string]> = [];

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
  await seedLab(orm, { downloadScript: null, postDownloadScript: null });
  fake = await FakeRedcap.start();
  const row = redcapFixtureRows('export-classic.json')[0];
  fake.addProject({
    token: TOKEN,
    records: ['1', '2', '3'].map((record) => ({
      ...row,
      record_id: record,
      session_id: `SPN01_ZHH_${RUN}000${record}_01_01`,
      comments: COMMENT,
      ra_id: USER,
    })),
  });
  const em = orm.em.fork();
  redcap = await em.findOneOrFail(RedcapConfig, { project: 1234 });
  Object.assign(redcap, { url: fake.url, token: TOKEN, userField: 'ra_id' });
  await em.flush();

  for (const [name, env] of [
    ['codec off', {}],
    ['codec on', { TEMPORAL_CODEC_KEYS: `k1:${KEY}` }],
  ] as const) {
    const config = loadConfig({ ...env, TEMPORAL_TASK_QUEUE: `payload-codec-${name.replace(' ', '-')}-${RUN}` });
    const server = await connectDevServer(config.codecKeys);
    const worker = await startTestWorker({ config, orm, server, logger: pino({ level: 'silent' }) });
    sides.push({ name, config, server, worker });
  }
});

afterAll(async () => {
  for (const [client, workflowId] of toTerminate)
    await client.workflow
      .getHandle(workflowId)
      .terminate('payload-codec test done')
      .catch(() => undefined);
  for (const side of sides) {
    await side.worker.stop();
    await side.server.close();
  }
  await fake?.close();
  await orm?.close();
});

/** The intake of `record`, started by the side's client as a trigger would start it, to its result. */
async function intake(side: Side, record: string): Promise<{ workflowId: string; result: RedcapIntakeResult }> {
  const { workflowId } = await startRedcapIntake(side.server.client, side.config.taskQueue, redcap, {
    configId: redcap.id,
    record,
  });
  const result = (await side.server.client.workflow.getHandle(workflowId).result()) as RedcapIntakeResult;
  toTerminate.push([side.server.client, `scan-import:${result.sessionId}`]);
  return { workflowId, result };
}

/** The history as Temporal stores it (and its Web UI shows it), in its wire form. */
async function storedHistory(client: Client, workflowId: string): Promise<Buffer> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return Buffer.from(temporal.api.history.v1.History.encode(history).finish());
}

test("the intake's history: plain JSON payloads without the codec, ciphertext with it; the comment and user in neither", async () => {
  const [off, on] = sides;
  const plain = await intake(off, '1');
  const encrypted = await intake(on, '2');
  // The same work either way: the client with the keys reads the result as it was.
  expect(encrypted.result).toMatchObject({ sessionId: `SPN01_ZHH_${RUN}0002_01_01`, change: 'created' });
  expect(plain.result).toMatchObject({ sessionId: `SPN01_ZHH_${RUN}0001_01_01`, change: 'created' });

  const plainBytes = await storedHistory(off.server.client, plain.workflowId);
  const encryptedBytes = await storedHistory(on.server.client, encrypted.workflowId);
  // Item 2 of issue 23: the intake's read stays in its activity, codec or not.
  expect(plainBytes.includes(COMMENT)).toBe(false);
  expect(plainBytes.includes(USER)).toBe(false);
  expect(plainBytes.includes('"sessionId"')).toBe(true);
  expect(encryptedBytes.includes('"sessionId"')).toBe(false);
  expect(encryptedBytes.includes(COMMENT)).toBe(false);
  expect(encryptedBytes.includes(USER)).toBe(false);
  expect(encryptedBytes.includes('binary/encrypted')).toBe(true);
  // The monitor it started was started encrypted too (its input came from the worker's client).
  const monitor = await storedHistory(on.server.client, `scan-import:${encrypted.result.sessionId}`);
  expect(monitor.includes('binary/encrypted')).toBe(true);
  expect(monitor.includes('"sessionId"')).toBe(false);

  // The figure for the report: an intake's history, in bytes, with and without the codec.
  process.stdout.write(
    `payload codec: an intake's history is ${plainBytes.length} bytes without the codec, ${encryptedBytes.length} with it (${(
      (encryptedBytes.length / plainBytes.length - 1) *
      100
    ).toFixed(0)}% more)\n`,
  );
  expect(encryptedBytes.length).toBeGreaterThan(0);
});

test('a payload of a key id the worker does not hold: the workflow task fails naming the key id; the worker runs on', async () => {
  const on = sides[1];
  const stranger = await connectDevServer([{ id: 'stranger-key', key: randomBytes(32) }]);
  try {
    const { workflowId } = await startRedcapIntake(stranger.client, on.config.taskQueue, redcap, {
      configId: redcap.id,
      record: '3',
    });
    toTerminate.push([on.server.client, workflowId]);
    let failures: ReturnType<typeof workflowTaskFailures> = [];
    await eventually(async () => {
      failures = workflowTaskFailures(await on.server.client.workflow.getHandle(workflowId).fetchHistory());
      return failures.length > 0;
    }, 'the workflow task to fail');
    expect(failures[0].message).toMatch(
      /key id "stranger-key", which TEMPORAL_CODEC_KEYS does not hold \(it holds k1\)/,
    );
    // It waits for a worker with the key (the memo, also encrypted, is for the stranger's client to read).
    expect((await stranger.client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');
    await expect(on.server.client.workflow.getHandle(workflowId).describe()).rejects.toThrow(/key id "stranger-key"/);
    // Not a crash: the worker goes on with other work.
    expect(on.worker.getState()).toBe('RUNNING');
    const other = await intake(on, '2');
    expect(other.result.change).toBe('unchanged');
  } finally {
    await stranger.close();
  }
});

test('a codec key of the wrong length stops the process at start, in one line naming the variable', async () => {
  const proc = startTsProcess(path.resolve(__dirname, '..', '..', 'src', 'codec-server.ts'), [], {
    TEMPORAL_CODEC_KEYS: `k1:${randomBytes(24).toString('base64')}`,
    CODEC_SERVER_TOKEN: 'x',
  });
  await eventually(() => proc.ended() !== undefined, 'the codec server to stop', 30_000);
  expect(proc.ended()).toBe('code 1');
  expect(proc.output().trim()).toMatch(
    /^npm run codec-server: Invalid environment: TEMPORAL_CODEC_KEYS: the key "k1" is not 32 bytes in base64/,
  );
  expect(proc.output().trim().split('\n')).toHaveLength(1);
});
