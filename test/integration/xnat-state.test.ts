/**
 * A session's XNAT state on a real database: checkSessionXnat finds the XNAT project of the session's study site
 * (from `config apply`), asks the fake XNAT, records the answer on the session, and GET /sessions/:id shows it as
 * `xnat`; a study site without an XNAT project is never asked. The entities match the migrations.
 */
import request from 'supertest';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import type { Orm } from '../../src/db/orm';
import { applyLabConfig, parseLabConfig } from '../../src/lab-config';
import { XnatClient } from '../../src/xnat/client';
import { checkSessionXnat, xnatTargetOfSession } from '../../src/xnat/state';
import { createTestDatabase } from '../support/db';
import { FakeXnat } from '../support/fake-xnat';
import { seedSession } from '../support/lab';
import { smallLabConfig, xnatLabConfig } from '../support/lab-config';
import { connectDevServer } from '../support/temporal';

const TOKEN = 'xnat-state-token';
let orm: Orm;
let xnat: FakeXnat;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let app: ReturnType<ReturnType<typeof createApp>['callback']>;
const client = new XnatClient({ timeoutMs: 1_000, retries: 1, backoffMs: 20 });

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
  xnat = await FakeXnat.start({ timeZone: 'America/Toronto' });
  // SPN01 at CMH has an XNAT project; SPN01 at ZHH has none.
  const source =
    smallLabConfig('https://redcap.example.org/', 'not-used') +
    xnatLabConfig({ url: xnat.url, user: xnat.user, password: xnat.password, timezone: 'America/Toronto' }, [
      ['SPN01_CMH', 'SPN01', 'CMH'],
    ]);
  await applyLabConfig(orm.em.fork(), parseLabConfig(source, { env: {} }).config);
  temporal = await connectDevServer();
  app = createApp({ config: loadConfig({ API_TOKEN: TOKEN }), orm, temporal: temporal.client }).callback();
});
afterAll(async () => {
  await xnat?.close();
  await temporal?.close();
  await orm?.close();
});

const show = async (sessionId: string) =>
  (
    await request(app)
      .get(`/sessions/${sessionId}`)
      .set({ Authorization: `Bearer ${TOKEN}` })
      .expect(200)
  ).body as {
    xnat: unknown;
  };

test('the entities match the migrations', async () => {
  expect(await orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
});

test('the XNAT project of a session is that of its study site', async () => {
  expect(await xnatTargetOfSession(orm.em.fork(), 'spn01_cmh_0001_01_01')).toMatchObject({
    project: 'SPN01_CMH',
    timeZone: 'America/Toronto',
    endpoint: { url: xnat.url, user: xnat.user, password: xnat.password },
  });
  expect(await xnatTargetOfSession(orm.em.fork(), 'SPN01_ZHH_0001_01_01')).toBeNull();
});

test('a check records what XNAT says, and GET /sessions/:id shows it: prearchive, then archived with scans', async () => {
  const sessionId = 'SPN01_CMH_0101_01_01';
  await seedSession(orm, sessionId);
  expect((await show(sessionId)).xnat).toBeNull(); // never asked

  const uploadedAt = new Date('2026-11-20T16:05:00Z');
  xnat.addPrearchive({ project: 'SPN01_CMH', name: sessionId, uploadedAt });
  const first = new Date('2026-11-22T10:00:00Z');
  expect(await checkSessionXnat(orm.em.fork(), client, sessionId, first)).toEqual({
    state: 'prearchive',
    since: uploadedAt.toISOString(),
    checkedAt: first.toISOString(),
  });
  expect((await show(sessionId)).xnat).toEqual({
    state: 'prearchive',
    since: uploadedAt.toISOString(),
    checkedAt: first.toISOString(),
  });

  const archivedAt = new Date('2026-11-22T14:00:00.500Z');
  xnat.archive('SPN01_CMH', sessionId, { insertedAt: archivedAt, scans: 6 });
  const second = new Date('2026-11-22T15:00:00Z');
  await checkSessionXnat(orm.em.fork(), client, sessionId.toLowerCase(), second);
  expect((await show(sessionId)).xnat).toEqual({
    state: 'archived',
    since: archivedAt.toISOString(),
    scans: 6,
    checkedAt: second.toISOString(),
  });
});

test('XNAT down: the check records unreachable with the reason (never the password), and does not throw', async () => {
  const sessionId = 'SPN01_CMH_0102_01_01';
  await seedSession(orm, sessionId);
  await xnat.down();
  try {
    const state = await checkSessionXnat(orm.em.fork(), client, sessionId);
    expect(state).toMatchObject({ state: 'unreachable', reason: expect.stringMatching(/could not be reached/) });
    const body = await show(sessionId);
    expect(body.xnat).toEqual(state);
    expect(JSON.stringify(body)).not.toContain(xnat.password);
  } finally {
    await xnat.up();
  }
  // Back up: the next check replaces what the last one recorded.
  await checkSessionXnat(orm.em.fork(), client, sessionId);
  expect((await show(sessionId)).xnat).toMatchObject({ state: 'absent' });
  expect((await show(sessionId)).xnat).not.toHaveProperty('reason');
});

test('a study site without an XNAT project is never asked, and nothing is recorded', async () => {
  const sessionId = 'SPN01_ZHH_0103_01_01';
  await seedSession(orm, sessionId);
  const calls = xnat.calls.length;
  expect(await checkSessionXnat(orm.em.fork(), client, sessionId)).toBeNull();
  expect(xnat.calls.length).toBe(calls);
  expect((await show(sessionId)).xnat).toBeNull();
});
