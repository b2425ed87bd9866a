/**
 * TLS by environment, through TLS-terminating proxies on loopback with certificates this test makes: to the Temporal
 * frontend (server CA, client certificate and key for mTLS, server name: the API's client and the worker's
 * connection), and to PostgreSQL (sslmode and CA: the ORM and the config cache's LISTEN connection).
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../src/config';
import { ormSsl } from '../../src/db/mikro-orm.config';
import { DatabaseUnavailableError, openDatabase, type Orm } from '../../src/db/orm';
import { watchedConfigCache } from '../../src/redcap/config-cache';
import { connectTemporal, temporalSettings, TemporalUnavailableError } from '../../src/temporal/client';
import { connectWorkerTemporal } from '../../src/worker';
import { REDCAP_RECONCILE_WORKFLOW } from '../../surface';
import { createTestDatabase } from '../support/db';
import { eventually } from '../support/processes';
import { devServerAddress, workflowFailure } from '../support/temporal';
import { grpcTlsProxy, makeCertificates, postgresTlsProxy, type TestCertificates, type TlsProxy } from '../support/tls';
import { startTestWorker } from '../support/worker';

let certs: TestCertificates;
let orm: Orm;
let databaseUrl: URL;

beforeAll(async () => {
  // The Temporal name is not the address (as behind a load balancer): TEMPORAL_TLS_SERVER_NAME says which to expect.
  certs = makeCertificates(['temporal.lab.internal', 'localhost', '127.0.0.1']);
  const db = await createTestDatabase();
  orm = db.orm;
  databaseUrl = new URL(db.url);
});
afterAll(() => orm?.close());

describe('Temporal frontend over mTLS', () => {
  let proxy: TlsProxy;
  beforeAll(async () => {
    proxy = await grpcTlsProxy(Number(devServerAddress().split(':').pop()), certs, { clientCa: certs.ca });
  });
  afterAll(() => proxy.close());

  const env = (more: Record<string, string> = {}) => ({
    TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}`,
    TEMPORAL_TLS_CA: certs.ca,
    TEMPORAL_TLS_CERT: certs.clientCert,
    TEMPORAL_TLS_KEY: certs.clientKey,
    TEMPORAL_TLS_SERVER_NAME: 'temporal.lab.internal',
    ...more,
  });

  test("the service's client and worker work through it: a workflow runs", async () => {
    const config = loadConfig(env({ TEMPORAL_TASK_QUEUE: `tls-${randomUUID()}` }));
    const settings = temporalSettings(config);
    const client = await connectTemporal(settings);
    const connection = await connectWorkerTemporal(settings);
    const worker = await startTestWorker({
      config,
      orm,
      server: { client, nativeConnection: connection },
      logger: pino({ level: 'silent' }),
    });
    try {
      const workflowId = `tls-reconcile-${randomUUID()}`;
      await client.workflow.start(REDCAP_RECONCILE_WORKFLOW, {
        workflowId,
        taskQueue: config.taskQueue,
        args: [{ configId: 987_654_321 }],
      });
      // It ran in the worker: its activity found no such config.
      const failure = await workflowFailure(client, workflowId);
      expect(failure.cause?.message).toMatch(/REDCap config 987654321 no longer exists/);
      expect(proxy.sessions).toBeGreaterThanOrEqual(2);
    } finally {
      await worker.stop();
      await connection.close();
      await client.connection.close();
    }
  });

  test('without the client certificate, or expecting another server name, it does not connect: one line naming what to check', async () => {
    const noCert = loadConfig({ ...env(), TEMPORAL_TLS_CERT: '', TEMPORAL_TLS_KEY: '' });
    const wrongName = loadConfig(env({ TEMPORAL_TLS_SERVER_NAME: 'elsewhere.lab.internal' }));
    for (const config of [noCert, wrongName]) {
      const err = await connectTemporal(temporalSettings(config)).then(
        (client) => client.connection.close().then(() => undefined),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TemporalUnavailableError);
      expect((err as Error).message).toMatch(
        /^cannot reach Temporal at 127\.0\.0\.1:\d+ .*\(TEMPORAL_ADDRESS and TEMPORAL_TLS_\*\)$/,
      );
      expect((err as Error).message).not.toContain('\n');
    }
  });
});

describe('PostgreSQL over TLS', () => {
  let proxy: TlsProxy;
  const proxied = (query = '') => {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    return `${url.toString()}${query}`;
  };
  beforeAll(async () => {
    proxy = await postgresTlsProxy(Number(databaseUrl.port), certs);
  });
  afterAll(() => proxy.close());

  test('sslmode=verify-full with the CA (in DATABASE_URL, or DATABASE_SSLMODE and DATABASE_SSL_CA): the ORM and the LISTEN connection', async () => {
    for (const env of [
      { DATABASE_URL: proxied(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.ca)}`) },
      { DATABASE_URL: proxied(), DATABASE_SSLMODE: 'verify-full', DATABASE_SSL_CA: certs.ca },
    ]) {
      const config = loadConfig(env);
      expect(config.databaseUrl).toBe(proxied());
      const before = proxy.sessions;
      const tlsOrm = await openDatabase(config.databaseUrl!, config.databaseSsl);
      try {
        expect(await tlsOrm.em.getConnection().execute('select 1 as one')).toEqual([{ one: 1 }]);
        const listening = watchedConfigCache(
          config.databaseUrl!,
          pino({ level: 'silent' }),
          ormSsl(tlsOrm.config.get('driverOptions')),
        );
        await eventually(() => listening.cache.isListening(), 'the config cache to LISTEN over TLS', 10_000);
        await listening.close();
      } finally {
        await tlsOrm.close();
      }
      expect(proxy.sessions).toBeGreaterThanOrEqual(before + 2);
    }
  });

  test('a server certificate the CA did not sign is refused (verify-full); require encrypts without checking', async () => {
    const config = loadConfig({
      DATABASE_URL: proxied(),
      DATABASE_SSLMODE: 'verify-full',
      DATABASE_SSL_CA: certs.otherCa,
    });
    const err = await openDatabase(config.databaseUrl!, config.databaseSsl).then(
      (o) => o.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatabaseUnavailableError);
    expect((err as Error).message).toMatch(/^cannot connect to the database at 127\.0\.0\.1:\d+\/\w+: .*certificate/);

    const required = loadConfig({ DATABASE_URL: proxied('?sslmode=require') });
    const tlsOrm = await openDatabase(required.databaseUrl!, required.databaseSsl);
    await tlsOrm.em.getConnection().execute('select 1');
    await tlsOrm.close();
  });

  test('without TLS the proxy, which speaks only TLS, is not reached: TLS really is in use above', async () => {
    const err = await openDatabase(proxied()).then(
      (o) => o.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatabaseUnavailableError);
  });
});

test('TLS files that are missing or not PEM stop the start in one line naming the variable', () => {
  const fails = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('loadConfig did not fail');
  };
  const temporal = { TEMPORAL_ADDRESS: 'temporal.lab.internal:7233' };
  expect(fails({ ...temporal, TEMPORAL_TLS_CA: '/nonexistent/ca.pem' })).toBe(
    'TEMPORAL_TLS_CA: cannot read /nonexistent/ca.pem (no such file)',
  );
  expect(fails({ ...temporal, TEMPORAL_TLS_CERT: certs.clientCert, TEMPORAL_TLS_KEY: '/nonexistent/client.key' })).toBe(
    'TEMPORAL_TLS_KEY: cannot read /nonexistent/client.key (no such file)',
  );
  expect(fails({ ...temporal, TEMPORAL_TLS_CERT: certs.clientCert })).toMatch(
    /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together/,
  );
  expect(fails({ ...temporal, TEMPORAL_TLS_CA: certs.dir })).toBe(
    `TEMPORAL_TLS_CA: cannot read ${certs.dir} (it is a directory)`,
  );
  expect(fails({ TEMPORAL_TLS_CA: certs.ca })).toMatch(/TEMPORAL_TLS_CA is for TEMPORAL_ADDRESS, which is unset/);
  const db = 'postgresql://u:p@db.lab.internal:5432/scans';
  expect(fails({ DATABASE_URL: db, DATABASE_SSL_CA: '/nonexistent/db-ca.pem' })).toBe(
    'DATABASE_SSL_CA: cannot read /nonexistent/db-ca.pem (no such file)',
  );
  expect(fails({ DATABASE_URL: `${db}?sslrootcert=/nonexistent/db-ca.pem` })).toBe(
    'DATABASE_URL sslrootcert: cannot read /nonexistent/db-ca.pem (no such file)',
  );
  expect(fails({ DATABASE_URL: `${db}?sslmode=prefer` })).toMatch(
    /sslmode=prefer is not one of disable, require, verify-ca, verify-full/,
  );
  expect(fails({ DATABASE_URL: db, DATABASE_SSL_CA: certs.serverKey.replace('server.key', 'server.ext') })).toMatch(
    /DATABASE_SSL_CA: .* is not a PEM file/,
  );
  expect(
    loadConfig({ DATABASE_URL: `${db}?sslmode=verify-ca&sslrootcert=${certs.ca}&application_name=x` }),
  ).toMatchObject({
    databaseUrl: `${db}?application_name=x`,
    databaseSsl: { mode: 'verify-ca', ca: expect.any(Buffer) },
  });
  expect(loadConfig({ DATABASE_URL: db, DATABASE_SSL_CA: certs.ca }).databaseSsl?.mode).toBe('verify-full');
  expect(loadConfig({ DATABASE_URL: db }).databaseSsl).toBeUndefined();
});
