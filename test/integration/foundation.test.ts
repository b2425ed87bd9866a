/**
 * The servers the suite relies on are real and work: time skipping on the Java test server, search
 * attributes on the dev server, a MikroORM round trip on PostgreSQL, and the API's health routes.
 */
import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { Site, Study } from '../../src/db/entities';
import { connectTemporal } from '../../src/temporal/client';
import { SessionIdAttribute } from '../../surface';
import { createTestDatabase } from '../support/db';
import { connectDevServer, createTimeSkippingEnv, devServerAddress } from '../support/temporal';

const workflowsPath = require.resolve('../support/workflows');

test('a workflow that sleeps 2 days completes in seconds under time skipping', async () => {
  const env = await createTimeSkippingEnv();
  try {
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'foundation', workflowsPath });
    const started = Date.now();
    const result = await worker.runUntil(
      env.client.workflow.execute('sleeper', {
        taskQueue: 'foundation',
        workflowId: `sleeper-${randomUUID()}`,
        args: ['2 days'],
      }),
    );
    expect(result).toBe('slept 2 days');
    // Wall time is printed for information; the assertion is on the workflow's own clock.
    console.log(`2-day sleep under time skipping took ${Date.now() - started} ms of wall time`);
  } finally {
    await env.teardown();
  }
});

test('a workflow started on the dev server is found by its SessionId search attribute', async () => {
  const temporal = await connectDevServer();
  const sessionId = `SPN01_CMH_${randomUUID().slice(0, 4).toUpperCase()}_01_01`;
  try {
    const handle = await temporal.client.workflow.start('sleeper', {
      taskQueue: `no-worker-${randomUUID()}`,
      workflowId: `visibility-${sessionId}`,
      args: ['1 hour'],
      typedSearchAttributes: [{ key: SessionIdAttribute, value: sessionId }],
    });
    let found: string[] = [];
    for (let attempt = 0; attempt < 50 && found.length === 0; attempt++) {
      found = [];
      for await (const wf of temporal.client.workflow.list({ query: `SessionId="${sessionId}"` }))
        found.push(wf.workflowId);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toEqual([`visibility-${sessionId}`]);
    await handle.terminate('test done');
  } finally {
    await temporal.close();
  }
});

test('MikroORM round trip on PostgreSQL', async () => {
  const { orm } = await createTestDatabase();
  try {
    const em = orm.em.fork();
    const study = em.create(Study, { id: 'SPN01', name: 'Social Processes Network' });
    em.create(Site, { id: 'CMH' });
    await em.flush();
    const again = await orm.em.fork().findOneOrFail(Study, 'SPN01');
    expect(again.name).toBe(study.name);
    expect(await orm.em.fork().count(Site)).toBe(1);
  } finally {
    await orm.close();
  }
});

describe('health routes', () => {
  test('/healthz and /readyz answer 200 with the database and Temporal up', async () => {
    const { orm } = await createTestDatabase();
    const temporal = await connectTemporal({ address: devServerAddress(), namespace: 'default' });
    try {
      const app = createApp({ config: loadConfig({}), orm, temporal }).callback();
      await request(app).get('/healthz').expect(200);
      const ready = await request(app).get('/readyz').expect(200);
      expect(ready.body).toMatchObject({ database: 'ok', temporal: 'ok' });
    } finally {
      await temporal.connection.close();
      await orm.close();
    }
  });

  test('/readyz answers 503 naming the database when it is gone', async () => {
    const { orm } = await createTestDatabase();
    const temporal = await connectTemporal({ address: devServerAddress(), namespace: 'default' });
    try {
      await orm.close(true);
      const app = createApp({ config: loadConfig({}), orm, temporal }).callback();
      const ready = await request(app).get('/readyz').expect(503);
      expect(ready.body.error).toMatch(/database/);
      expect(ready.body).toMatchObject({ database: 'down', temporal: 'ok' });
    } finally {
      await temporal.connection.close();
    }
  });
});
