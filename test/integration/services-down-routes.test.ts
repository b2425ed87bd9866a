/**
 * Every route answers 503 naming the service when PostgreSQL or Temporal is down (a real PostgreSQL stopped, a real
 * Temporal dev server stopped), never a 500: the one mapping of src/errors.ts. The routes are read from the app
 * itself, so a route added without a case here fails the test.
 */
import path from 'node:path';
import type Koa from 'koa';
import request from 'supertest';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { migrate, openDatabase, type Orm } from '../../src/db/orm';
import { startDevServer, type DevServer } from '../../src/dev/dev-server';
import { logger } from '../../src/logger';
import { redcapFixture } from '../support/fake-redcap';
import { seedLab, seedSession } from '../support/lab';
import { freePort } from '../support/ports';
import { startTsProcess, waitForProcess, type ServiceProcess } from '../support/processes';

jest.setTimeout(180_000);

const TOKEN = 'services-down-token';
const SESSION = 'SPN01_CMH_0001_01_01';
/** The dismissals' session: no cancel of its own before them. */
const DISMISSED = 'SPN01_CMH_0002_01_01';
const config = loadConfig({ API_TOKEN: TOKEN, TEMPORAL_TASK_QUEUE: 'services-down' });
const quiet = logger.child({ test: 'services-down' }, { level: 'silent' });

/** One request per route: method, path pattern (as the router has it), and how to call it. */
const calls: Array<{ method: string; route: string; send: (app: request.Agent) => request.Test; needs: string[] }> = [
  { method: 'GET', route: '/healthz', send: (a) => a.get('/healthz'), needs: [] },
  { method: 'GET', route: '/metrics', send: (a) => a.get('/metrics'), needs: [] },
  { method: 'GET', route: '/readyz', send: (a) => a.get('/readyz'), needs: ['database', 'temporal'] },
  {
    method: 'POST',
    route: '/redcap',
    send: (a) => a.post('/redcap').type('form').send(redcapFixture('det-classic-complete.form').trim()),
    needs: ['database', 'temporal'],
  },
  {
    method: 'GET',
    route: '/redcap_redirect/:recordId',
    send: (a) => a.get('/redcap_redirect/1').set('authorization', `Bearer ${TOKEN}`),
    needs: ['database'],
  },
  {
    method: 'GET',
    route: '/sessions/:sessionId',
    send: (a) => a.get(`/sessions/${SESSION}`).set('authorization', `Bearer ${TOKEN}`),
    needs: ['database', 'temporal'],
  },
  {
    method: 'POST',
    route: '/sessions/:sessionId/scans',
    send: (a) =>
      a
        .post(`/sessions/${SESSION}/scans`)
        .set('authorization', `Bearer ${TOKEN}`)
        .send({ name: `${SESSION}_T1`, series: 1, tag: 'T1' }),
    needs: ['database'],
  },
  {
    method: 'POST',
    route: '/sessions/:sessionId/monitors/cancel',
    send: (a) => a.post(`/sessions/${SESSION}/monitors/cancel`).set('authorization', `Bearer ${TOKEN}`).send({}),
    needs: ['database', 'temporal'],
  },
  {
    method: 'DELETE',
    route: '/sessions/:sessionId/monitors/cancel',
    send: (a) => a.delete(`/sessions/${SESSION}/monitors/cancel`).set('authorization', `Bearer ${TOKEN}`),
    needs: ['database', 'temporal'],
  },
  {
    method: 'GET',
    route: '/sessions',
    send: (a) => a.get('/sessions?study=SPN01').set('authorization', `Bearer ${TOKEN}`),
    needs: ['database'],
  },
  {
    method: 'GET',
    route: '/studies/:studyId/outstanding',
    send: (a) => a.get('/studies/SPN01/outstanding').set('authorization', `Bearer ${TOKEN}`),
    needs: ['database'],
  },
  {
    method: 'POST',
    route: '/sessions/:sessionId/dismissals',
    send: (a) =>
      a
        .post(`/sessions/${DISMISSED}/dismissals`)
        .set('authorization', `Bearer ${TOKEN}`)
        .send({ kind: 'no-scans-expected', comment: 'withdrew' }),
    needs: ['database', 'temporal'],
  },
  {
    method: 'DELETE',
    route: '/sessions/:sessionId/dismissals/:kind',
    send: (a) =>
      a.delete(`/sessions/${DISMISSED}/dismissals/no-scans-expected`).set('authorization', `Bearer ${TOKEN}`),
    needs: ['database', 'temporal'],
  },
  {
    method: 'POST',
    route: '/redcap/configs/:configId/records/:record/pull',
    send: (a) => a.post('/redcap/configs/1/records/17/pull').set('authorization', `Bearer ${TOKEN}`).send({}),
    needs: ['database', 'temporal'],
  },
];

/** Every (method, path) the app routes, read from its routers. */
function appRoutes(app: Koa): string[] {
  type Layer = { path: string; methods: string[] };
  const routers = app.middleware
    .map((m) => (m as unknown as { router?: { stack: Layer[] } }).router)
    .filter((router) => router !== undefined);
  return routers
    .flatMap((router) => router.stack.flatMap((layer) => layer.methods.map((method) => `${method} ${layer.path}`)))
    .filter((route) => !route.startsWith('HEAD '));
}

let pg: ServiceProcess;
let orm: Orm;
let temporal: DevServer;
let client: Client;

async function startPostgres(dataDir: string, port: number): Promise<string> {
  pg = startTsProcess(path.join(__dirname, '..', 'support', 'postgres-process.ts'), [dataDir, String(port), 'down']);
  await waitForProcess(pg, () => pg.output().includes('ready '), 'PostgreSQL to start', 60_000);
  return /ready (\S+)/.exec(pg.output())![1];
}

beforeAll(async () => {
  const dataDir = path.join(process.env.TEST_WORK_DIR!, `services-down-${process.pid}`);
  orm = await openDatabase(await startPostgres(dataDir, await freePort()));
  await migrate(orm);
  await seedLab(orm);
  await seedSession(orm, SESSION);
  await seedSession(orm, DISMISSED);
  temporal = await startDevServer({ port: await freePort(), stdio: 'ignore' });
  client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
});

afterAll(async () => {
  await client?.connection.close();
  await temporal?.stop();
  await orm?.close(true);
  await pg?.stop();
});

test('the cases cover every route of the app', () => {
  const app = createApp({ config, orm, temporal: client, logger: quiet });
  expect(appRoutes(app).sort()).toEqual(calls.map((c) => `${c.method} ${c.route}`).sort());
});

/** Calls every route; each that needs the service is a 503 naming it, each other one is no 5xx. */
async function expectDown(app: Koa, service: 'database' | 'temporal'): Promise<Record<string, string>> {
  const agent = request.agent(app.callback());
  const seen: Record<string, string> = {};
  const expected: Record<string, string> = {};
  for (const call of calls) {
    const res = await call.send(agent);
    const key = `${call.method} ${call.route}`;
    const named = new RegExp(service, 'i').test(String((res.body as { error?: string }).error ?? ''));
    seen[key] = res.status >= 500 ? `${res.status}${named ? ` naming ${service}` : ''}` : 'no 5xx';
    expected[key] = call.needs.includes(service) ? `503 naming ${service}` : 'no 5xx';
  }
  expect(seen).toEqual(expected);
  return seen;
}

test('PostgreSQL stopped: every route that reads the database answers 503 naming it', async () => {
  await pg.stop();
  const app = createApp({ config, orm, temporal: client, logger: quiet });
  const statuses = await expectDown(app, 'database');
  console.log(`PostgreSQL down: ${JSON.stringify(statuses)}`);
});

test('Temporal stopped (the database up): every route that calls Temporal answers 503 naming it', async () => {
  const dataDir = path.join(process.env.TEST_WORK_DIR!, `services-down-${process.pid}`);
  await orm.close(true);
  orm = await openDatabase(await startPostgres(dataDir, await freePort()));
  await temporal.stop();
  const app = createApp({ config, orm, temporal: client, logger: quiet });
  const statuses = await expectDown(app, 'temporal');
  console.log(`Temporal down: ${JSON.stringify(statuses)}`);
});
