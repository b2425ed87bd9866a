/**
 * Hostile input (property tests with fast-check) against createApp on a real database and the suite's Temporal dev
 * server: thousands of malformed Data Entry Triggers and admin requests. Never a 5xx, always a JSON answer, text
 * stored exactly as sent, the bearer token and DET_SECRET enforced. DETs start intake workflows on a task queue of
 * this file's own with no worker; they are terminated at the end. fast-check prints the seed of a failing run.
 */
import { randomInt, randomUUID } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import type { Orm } from '../../src/db/orm';
import { RedcapConfig } from '../../src/db/entities';
import { createTestDatabase } from '../support/db';
import {
  CONTENT_ENCODINGS,
  CONTENT_TYPES,
  formBody,
  hostileString,
  hugeString,
  multipartBody,
  rawRequest,
  storable,
  type RawAnswer,
  wellFormed,
} from '../support/hostile';
import { seedLab, seedSession } from '../support/lab';
import { connectDevServer } from '../support/temporal';

const API_TOKEN = `hostile-${randomUUID()}`;
const RUN = randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase();
/** This file's own session: monitor ids (scan-import:<SESSION>) are global on the shared dev server. */
const SESSION = `SPN01_CMH_${RUN}_01_01`;
const REDCAP_URL = 'https://redcap.hostile.example/';
const LIMIT = 100 * 1024;

const DET_STATUSES = [200, 202, 400, 403, 404, 413, 415];
const ADMIN_STATUSES = [200, 201, 302, 400, 404, 409, 413, 415];

let orm: Orm;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let config: Config;
let server: http.Server;
let configId: number;
let recordId: number;
const startedIntakes = new Set<string>();

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
  // A REDCap config id of our own: intake workflow ids (redcap-intake:<configId>:<record>) are global on the dev server.
  await orm.em.getConnection().execute(`select setval('redcap_config_id_seq', ${randomInt(1_000_000, 2_000_000_000)})`);
  await seedLab(orm, { downloadScript: null, postDownloadScript: null });
  const em = orm.em.fork();
  const seeded = await em.findOneOrFail(RedcapConfig, { project: 1234 });
  seeded.url = REDCAP_URL;
  await em.flush();
  configId = seeded.id;
  recordId = (await seedSession(orm, SESSION)).recordId!;
  temporal = await connectDevServer();
  config = loadConfig({
    API_TOKEN,
    TEMPORAL_TASK_QUEUE: `hostile-input-${RUN}`,
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-input-')),
  });
  server = http.createServer(createApp({ config, orm, temporal: temporal.client, logger: silentLogger() }).callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  const ids = [...startedIntakes];
  for (let i = 0; i < ids.length; i += 32) {
    await Promise.all(
      ids.slice(i, i + 32).map((id) =>
        temporal.client.workflow
          .getHandle(id)
          .terminate('hostile-input test done')
          .catch(() => undefined),
      ),
    );
  }
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await temporal?.close();
  await orm?.close();
});

/** The app logs every 5xx at error level; the properties fail on a 5xx anyway, and its reason is in the answer. */
const silentLogger = () => pino({ level: 'silent' });

function validDet(record = '17'): Record<string, string> {
  return {
    redcap_url: REDCAP_URL,
    project_url: `${REDCAP_URL}redcap_v14.5.2/index.php?pid=1234`,
    project_id: '1234',
    username: 'jdoe',
    record,
    instrument: 'mri_scan_log',
    mri_scan_log_complete: '2',
  };
}
const DET_KEYS = Object.keys(validDet());

/** An answer the API may give: a JSON object saying what happened. */
function expectJsonAnswer(res: Answer, statuses: number[]): void {
  if (!statuses.includes(res.status)) {
    throw new Error(`Unexpected status ${res.status}: ${(JSON.stringify(res.body) ?? res.text).slice(0, 500)}`);
  }
  if (res.status === 302) return;
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body).toEqual(expect.any(Object));
  expect(
    typeof res.body.error === 'string' || typeof res.body.status === 'string' || typeof res.body.sessionId === 'string',
  ).toBe(true);
}

type Answer = Pick<RawAnswer, 'status' | 'headers' | 'body' | 'text'>;

function noteIntake(res: Answer): void {
  if (res.status !== 202) return;
  expect(res.body).toEqual({ status: 'accepted', workflowId: expect.any(String) });
  expect(res.body.workflowId.startsWith(`redcap-intake:${configId}:`)).toBe(true);
  startedIntakes.add(res.body.workflowId);
}

interface RawRequest {
  query: string;
  contentType?: string;
  contentEncoding?: string;
  body: Buffer;
}

function postRaw(req: RawRequest): Promise<RawAnswer> {
  const headers: Record<string, string> = {};
  if (req.contentType !== undefined) headers['content-type'] = req.contentType;
  if (req.contentEncoding !== undefined) headers['content-encoding'] = req.contentEncoding;
  return rawRequest(server, 'POST', `/redcap${req.query}`, headers, req.body);
}

const pairs = (value = hostileString()) =>
  fc.array(fc.tuple(fc.oneof(fc.constantFrom(...DET_KEYS), hostileString(40)), value), { maxLength: 12 });

/** Any body at all: form, JSON (valid or not), multipart, random bytes, hostile text. */
const anyBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  pairs().map((p) => formBody(p)),
  pairs().map((p) => formBody(p, true)),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.dictionary(hostileString(40), hostileString()).map((value) => JSON.stringify(value)),
  hostileString().map((s) => `{"record": ${s}`),
  pairs().map((p) => multipartBody(p)),
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
  hostileString(2000),
);

const anyQuery = fc.oneof(
  fc.constant(''),
  fc.constant('?'),
  hostileString(60).map((s) => `?${encodeURIComponent(wellFormed(s))}`),
  fc.constantFrom('?secret=', '?secret=x&secret=y', '?%', '?secret=%E0%A4%A', '?a[b][c]=1'),
);

describe('POST /redcap with hostile bodies', () => {
  test('any body, content type and encoding: a JSON answer, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyBody,
        fc.constantFrom(...CONTENT_TYPES),
        fc.constantFrom(...CONTENT_ENCODINGS),
        fc.boolean(),
        anyQuery,
        async (body, contentType, contentEncoding, compress, query) => {
          let bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
          if (compress && contentEncoding === 'gzip') bytes = zlib.gzipSync(bytes);
          if (compress && contentEncoding === 'deflate') bytes = zlib.deflateSync(bytes);
          if (compress && contentEncoding === 'br') bytes = zlib.brotliCompressSync(bytes);
          const res = await postRaw({ query, contentType, contentEncoding, body: bytes });
          expectJsonAnswer(res, DET_STATUSES);
          noteIntake(res);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('a good trigger with fields dropped, duplicated, replaced by hostile or huge values: never a 5xx; over 100 kB a 413', async () => {
    type Op =
      | { kind: 'drop'; key: string }
      | { kind: 'set' | 'duplicate'; key: string; value: string }
      | { kind: 'add'; key: string; value: string };
    const value = fc.oneof({ weight: 4, arbitrary: hostileString() }, { weight: 1, arbitrary: hugeString(LIMIT) });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('drop' as const), key: fc.constantFrom(...DET_KEYS) }),
      fc.record({
        kind: fc.constantFrom('set' as const, 'duplicate' as const),
        key: fc.constantFrom(...DET_KEYS),
        value,
      }),
      fc.record({ kind: fc.constant('add' as const), key: hostileString(40), value }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 5 }),
        fc.constantFrom('form', 'raw-form', 'json'),
        async (ops, encoding) => {
          let fields: Array<[string, string]> = Object.entries(validDet());
          for (const o of ops) {
            if (o.kind === 'drop') fields = fields.filter(([key]) => key !== o.key);
            else if (o.kind === 'set') fields = fields.map(([key, v]) => [key, key === o.key ? o.value : v]);
            else fields.push([o.key, o.value]);
          }
          const body =
            encoding === 'json'
              ? `{${fields.map(([key, v]) => `${JSON.stringify(key)}:${JSON.stringify(v)}`).join(',')}}`
              : formBody(fields, encoding === 'raw-form');
          const res = await postRaw({
            query: '',
            contentType: encoding === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
            body: Buffer.from(body),
          });
          expectJsonAnswer(res, DET_STATUSES);
          if (Buffer.byteLength(body) > LIMIT) expect(res.status).toBe(413);
          else expect(res.status).not.toBe(413);
          noteIntake(res);
        },
      ),
      { numRuns: 800 },
    );
  });

  test('any record REDCap could name, with junk fields alongside: accepted under its own workflow id, or a 400 naming it', async () => {
    const junk = fc.array(fc.tuple(hostileString(40), hostileString()), { maxLength: 6 });
    const record = fc.oneof(
      hostileString(220),
      fc.string({ unit: 'grapheme', minLength: 190, maxLength: 210 }),
      fc.constantFrom('😀'.repeat(100), '田'.repeat(200)),
    );
    await fc.assert(
      fc.asyncProperty(
        record,
        fc.option(hostileString(120), { nil: undefined }),
        junk,
        async (recordValue, eventName, extra) => {
          const det = validDet(recordValue);
          const fields: Array<[string, string]> = [
            // (A JSON key __proto__ may be refused outright; the other properties cover it.)
            ...extra.filter(([key]) => !DET_KEYS.includes(key) && !['redcap_event_name', '__proto__'].includes(key)),
            ...Object.entries(det),
            ...(eventName === undefined ? [] : [['redcap_event_name', eventName] as [string, string]]),
          ];
          const body = Buffer.from(JSON.stringify(Object.fromEntries(fields)));
          const res = await rawRequest(server, 'POST', '/redcap', { 'content-type': 'application/json' }, body);
          expectJsonAnswer(res, DET_STATUSES);
          const record = recordValue.trim();
          const event = eventName?.trim();
          const good = (s: string | undefined) => s === undefined || storable(s);
          if (
            record !== '' &&
            record.length <= 200 &&
            good(record) &&
            good(event) &&
            (event === undefined || event.length <= 100)
          ) {
            expect(res.status).toBe(202);
            // `%`, `:` and `#` are percent-encoded in the id's parts (docs/temporal.md), so no two triggers share one.
            const part = (text: string) =>
              text.replace(/[%:#]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
            expect(res.body.workflowId).toBe(
              `redcap-intake:${configId}:${part(record)}${event ? `:${part(event)}` : ''}`,
            );
            noteIntake(res);
          } else {
            expect(res.status).toBe(400);
            expect(res.body.error).toMatch(
              record === '' || record.length > 200 || !storable(record) ? /record/ : /redcap_event_name/,
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('known traps, one by one', async () => {
    const post = (fields: Record<string, string>) => request(server).post('/redcap').type('form').send(fields);
    // NUL cannot be stored or looked up in PostgreSQL: a 400 naming the field, not "database unavailable".
    for (const key of ['record', 'instrument', 'redcap_url', 'project_url', 'redcap_event_name', 'username']) {
      const res = await post({ ...validDet(), [key]: `${validDet()[key] ?? 'x'}\u0000` }).expect(400);
      expect(res.body.error).toContain(key);
    }
    // A workflow id Temporal refuses (too long) is the trigger's fault: 400.
    expect((await post({ ...validDet(), redcap_event_name: 'e'.repeat(5000) }).expect(400)).body.error).toContain(
      'redcap_event_name',
    );
    // Project ids beyond a PostgreSQL integer are no project of ours.
    for (const id of ['2147483648', '9'.repeat(400)]) {
      expect((await post({ ...validDet(), project_id: id }).expect(400)).body.error).toMatch(/project_id/);
    }
    expect((await post({ ...validDet(), project_id: '00000000000000000000001234' }).expect(202)).body.workflowId).toBe(
      `redcap-intake:${configId}:17`,
    );
    startedIntakes.add(`redcap-intake:${configId}:17`);
    // A body whose Content-Encoding lies: 400, not a 500.
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const res = await postRaw({
        query: '',
        contentType: 'application/x-www-form-urlencoded',
        contentEncoding: encoding,
        body: Buffer.from('record=1'),
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/Content-Encoding/);
    }
    // A gzip bomb is measured after decompression.
    const bomb = zlib.gzipSync(Buffer.from(`record=1&notes=${'x'.repeat(10 * LIMIT)}`));
    expect(
      (
        await postRaw({
          query: '',
          contentType: 'application/x-www-form-urlencoded',
          contentEncoding: 'gzip',
          body: bomb,
        })
      ).status,
    ).toBe(413);
  });
});

describe('admin routes with hostile ids and bodies (right token)', () => {
  const auth = { Authorization: `Bearer ${API_TOKEN}` };
  const hostileId = fc.oneof(
    hostileString(120).map((s) => encodeURIComponent(wellFormed(s))),
    fc.constantFrom(
      '%',
      '%E0%A4%A',
      '%00',
      '%2F',
      '..',
      '%2e%2e',
      SESSION.toLowerCase(),
      `${SESSION}%00`,
      encodeURIComponent(` ${SESSION}`),
      '0',
      '-1',
      '1e3',
      '9'.repeat(40),
    ),
  );
  const anyJsonBody = fc.oneof(
    fc.jsonValue().map((value) => JSON.stringify(value)),
    fc
      .record(
        {
          name: hostileString(),
          series: fc.oneof(fc.integer(), fc.double(), hostileString()),
          tag: hostileString(80),
          description: hostileString(),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
    fc
      .record({ reason: fc.oneof(hostileString(), hugeString(LIMIT)) }, { requiredKeys: [] })
      .map((o) => JSON.stringify(o)),
    hostileString(),
  );

  test('any id, body and content type: never a 5xx, never a 401', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('session', 'scans', 'cancel', 'redirect'),
        fc.oneof(hostileId, fc.constant(SESSION), fc.constant(String(recordId))),
        anyJsonBody,
        fc.constantFrom(...CONTENT_TYPES),
        async (route, id, body, contentType) => {
          const headers: Record<string, string> = { authorization: auth.Authorization };
          let res: RawAnswer;
          if (route === 'session') res = await rawRequest(server, 'GET', `/sessions/${id}`, headers);
          else if (route === 'redirect') res = await rawRequest(server, 'GET', `/redcap_redirect/${id}`, headers);
          else {
            if (contentType !== undefined) headers['content-type'] = contentType;
            res = await rawRequest(
              server,
              'POST',
              `/sessions/${id}/${route === 'scans' ? 'scans' : 'monitors/cancel'}`,
              headers,
              Buffer.from(body),
            );
          }
          expectJsonAnswer(res, ADMIN_STATUSES);
        },
      ),
      { numRuns: 600 },
    );
  });

  test("the lab's routes (list, outstanding, dismissals, pull) with any id, query and body: never a 5xx", async () => {
    const hostileQuery = fc
      .dictionary(
        fc.constantFrom('study', 'site', 'state', 'since', 'until', 'limit', 'cursor', 'format', 'x'),
        fc.oneof(hostileString(40), fc.constantFrom('SPN01', 'CMH', 'waiting', '2026-11-20', '500', '501', 'csv')),
      )
      .map((query) => new URLSearchParams(query).toString());
    const dismissalBody = fc
      .record(
        {
          kind: fc.oneof(fc.constantFrom('no-scans-expected', 'no-redcap-expected'), hostileString(40)),
          comment: fc.oneof(hostileString(), hugeString(LIMIT), fc.constant('')),
          by: hostileString(20),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('list', 'outstanding', 'dismiss', 'undo', 'pull'),
        fc.oneof(hostileId, fc.constant(SESSION), fc.constant('SPN01')),
        hostileQuery,
        fc.oneof(dismissalBody, anyJsonBody),
        async (route, id, query, body) => {
          const headers: Record<string, string> = { authorization: auth.Authorization };
          const json = { ...headers, 'content-type': 'application/json' };
          const res =
            route === 'list'
              ? await rawRequest(server, 'GET', `/sessions?${query}`, headers)
              : route === 'outstanding'
                ? await rawRequest(server, 'GET', `/studies/${id}/outstanding`, headers)
                : route === 'dismiss'
                  ? await rawRequest(server, 'POST', `/sessions/${id}/dismissals`, json, Buffer.from(body))
                  : route === 'undo'
                    ? await rawRequest(server, 'DELETE', `/sessions/${SESSION}/dismissals/${id}`, headers)
                    : await rawRequest(
                        server,
                        'POST',
                        `/redcap/configs/${id}/records/${id}/pull`,
                        json,
                        Buffer.from(body),
                      );
          if (![...ADMIN_STATUSES, 202].includes(res.status))
            throw new Error(`Unexpected status ${res.status}: ${(JSON.stringify(res.body) ?? res.text).slice(0, 500)}`);
          expect(res.headers['content-type']).toMatch(/^application\/json/);
          expect(res.body).toEqual(expect.any(Object));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a scan with hostile name, tag and description: stored exactly as sent, or a 400 naming the field', async () => {
    /**
     * What is stored, by name: POST the same again is a 200, other details a 409. It starts from what the session
     * already holds: the test above may have registered a scan (its bodies include a name, a series and a tag).
     */
    const stored = new Map<string, { series: number; tag: string; description: string | null }>();
    const held = await request(server).get(`/sessions/${SESSION}`).set(auth).expect(200);
    for (const scan of held.body.scans as Array<{
      name: string;
      series: number;
      tag: string;
      description: string | null;
    }>) {
      stored.set(scan.name, { series: scan.series, tag: scan.tag, description: scan.description });
    }
    const text = (max: number) =>
      fc.oneof(
        { weight: 5, arbitrary: hostileString(max + 20) },
        { weight: 1, arbitrary: fc.constantFrom('x'.repeat(max), 'x'.repeat(max + 1), '😀'.repeat(max / 2)) },
      );
    await fc.assert(
      fc.asyncProperty(
        text(255),
        fc.oneof(fc.nat(1000), fc.constantFrom(2 ** 31 - 1, 2 ** 31, 2 ** 53, -1, 1.5)),
        text(64),
        fc.oneof(fc.constant(undefined), fc.constant(null), text(10_000), hugeString(10_000)),
        async (name, series, tag, description) => {
          const body = { name, series, tag, ...(description === undefined ? {} : { description }) };
          const res = await request(server).post(`/sessions/${SESSION}/scans`).set(auth).send(body);
          expectJsonAnswer(res, [200, 201, 400, 409]);
          const fit = (s: string, max: number) => s.trim() !== '' && s.trim().length <= max && storable(s);
          const valid =
            fit(name, 255) &&
            fit(tag, 64) &&
            Number.isInteger(series) &&
            series >= 0 &&
            series <= 2 ** 31 - 1 &&
            (description == null || (storable(description) && description.length <= 10_000));
          if (!valid) {
            expect(res.status).toBe(400);
            return;
          }
          const expected = { name: name.trim(), series, tag: tag.trim(), description: description ?? null };
          const before = stored.get(expected.name);
          if (before) {
            const same =
              before.series === series && before.tag === expected.tag && before.description === expected.description;
            expect(res.status).toBe(same ? 200 : 409);
            return;
          }
          expect(res.status).toBe(201);
          stored.set(expected.name, expected); // before the checks below, so a failing run leaves the model right
          expect(res.body.scan).toEqual(expected);
          const view = await request(server).get(`/sessions/${SESSION}`).set(auth).expect(200);
          const scan = (view.body.scans as Array<Record<string, unknown>>).find((s) => s.name === expected.name);
          expect(scan).toMatchObject(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the bearer token', () => {
  const routes = () => [
    request(server).get(`/sessions/${SESSION}`),
    request(server)
      .post(`/sessions/${SESSION}/scans`)
      .send({ name: `${SESSION}_T1`, series: 1, tag: 'T1' }),
    request(server).post(`/sessions/${SESSION}/monitors/cancel`).send({}),
    request(server).get(`/redcap_redirect/${recordId}`),
    request(server).get('/sessions'),
    request(server).get('/studies/SPN01/outstanding?format=csv'),
    request(server).post(`/sessions/${SESSION}/dismissals`).send({ kind: 'no-redcap-expected', comment: 'x' }),
    request(server).delete(`/sessions/${SESSION}/dismissals/no-redcap-expected`),
    request(server).post('/redcap/configs/999999/records/17/pull').send({}),
  ];
  /** Header values Node's HTTP client can send (latin1, no control characters but tab). */
  const headerText = fc.string({
    unit: fc
      .integer({ min: 0x20, max: 0xff })
      .filter((c) => c !== 0x7f)
      .map((c) => String.fromCharCode(c)),
    maxLength: 80,
  });
  const flipCase = (s: string) =>
    s.replace(/[a-z]/gi, (c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()));

  /** Near misses of the right header: one character more, less or changed, other case, other scheme... */
  const nearMiss = fc.oneof(
    fc.constantFrom(
      `Bearer ${API_TOKEN.slice(0, -1)}`,
      `Bearer ${API_TOKEN}x`,
      `Bearer ${API_TOKEN}${API_TOKEN}`,
      `Bearer ${flipCase(API_TOKEN)}`,
      `Bearer ${API_TOKEN.toUpperCase()}`,
      `Bearer x${API_TOKEN}`,
      `Basic ${API_TOKEN}`,
      `Token ${API_TOKEN}`,
      API_TOKEN,
      `Bearer${API_TOKEN}`,
      `Bearer "${API_TOKEN}"`,
      `Bearer ${API_TOKEN},`,
      `Bearer ${Buffer.from(API_TOKEN).toString('base64')}`,
      'Bearer ',
      'Bearer',
      'Bearer undefined',
      'Bearer null',
      '',
    ),
    fc
      .tuple(
        fc.nat(API_TOKEN.length - 1),
        headerText.filter((s) => s.length === 1),
      )
      .map(([at, c]) => {
        const changed = API_TOKEN.slice(0, at) + c + API_TOKEN.slice(at + 1);
        return `Bearer ${changed === API_TOKEN ? `${changed}!` : changed}`;
      }),
    fc.nat(API_TOKEN.length - 1).map((n) => `Bearer ${API_TOKEN.slice(0, n)}`),
    headerText,
    headerText.map((s) => `Bearer ${s}`),
  );

  test('missing, wrong and near-miss tokens: 401 on every admin route', async () => {
    await fc.assert(
      fc.asyncProperty(fc.option(nearMiss, { nil: undefined }), fc.nat(routes().length - 1), async (header, which) => {
        fc.pre(header === undefined || header.replace(/^bearer\s+/i, '').trim() !== API_TOKEN);
        const test = routes()[which];
        if (header !== undefined) test.set('Authorization', header);
        const res = await test;
        expect(res.status).toBe(401);
        expect(res.body.error).toEqual(expect.any(String));
        expect(JSON.stringify(res.body)).not.toContain(API_TOKEN);
      }),
      { numRuns: 300 },
    );
  });

  test('the right token, with the scheme in any case, is let through', async () => {
    for (const header of [`Bearer ${API_TOKEN}`, `bearer ${API_TOKEN}`, `BEARER  ${API_TOKEN}`]) {
      for (const test of routes()) expect((await test.set('Authorization', header)).status).not.toBe(401);
    }
  });

  test('API_TOKEN unset (or empty): 401 for everyone', async () => {
    for (const apiToken of [undefined, '']) {
      const closed = createApp({
        config: { ...config, apiToken },
        orm,
        temporal: temporal.client,
        logger: silentLogger(),
      }).callback();
      await fc.assert(
        fc.asyncProperty(
          fc.option(fc.oneof(nearMiss, fc.constant(`Bearer ${API_TOKEN}`)), { nil: undefined }),
          fc.nat(3),
          async (header, which) => {
            const tests = [
              request(closed).get(`/sessions/${SESSION}`),
              request(closed).post(`/sessions/${SESSION}/scans`).send({}),
              request(closed).post(`/sessions/${SESSION}/monitors/cancel`).send({}),
              request(closed).get(`/redcap_redirect/${recordId}`),
            ];
            const test = tests[which];
            if (header !== undefined) test.set('Authorization', header);
            const res = await test;
            expect(res.status).toBe(401);
            expect(res.body.error).toMatch(/API_TOKEN/);
          },
        ),
        { numRuns: 50 },
      );
    }
  });
});

describe('DET_SECRET', () => {
  test('missing, wrong and near-miss secrets: 403; the right one (however encoded) passes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => s.trim() === s && s !== ''),
        fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
        async (secret, noise) => {
          const guarded = createApp({
            config: { ...config, detSecret: secret },
            orm,
            temporal: temporal.client,
            logger: silentLogger(),
          }).callback();
          const det = { ...validDet(), mri_scan_log_complete: '0' }; // known config, incomplete form: 200 ignored, starts nothing
          const wrong = [
            '',
            '?secret=',
            `?secret=${encodeURIComponent([...secret].slice(0, -1).join(''))}`,
            `?secret=${encodeURIComponent(`${secret}x`)}`,
            `?secret=${encodeURIComponent(` ${secret}`)}`,
            `?secret=${encodeURIComponent(secret)}&secret=${encodeURIComponent(secret)}`,
            `?Secret=${encodeURIComponent(secret)}`,
            `?secret[]=${encodeURIComponent(secret)}`,
            `?token=${encodeURIComponent(secret)}`,
            ...noise.map((n) => `?secret=${encodeURIComponent(n)}`),
          ];
          if (secret.toUpperCase() !== secret) wrong.push(`?secret=${encodeURIComponent(secret.toUpperCase())}`);
          for (const query of wrong) {
            if (query === `?secret=${encodeURIComponent(secret)}`) continue;
            const res = await request(guarded).post(`/redcap${query}`).type('form').send(det);
            expect(res.status).toBe(403);
            expect(JSON.stringify(res.body)).not.toContain(secret.length > 3 ? secret : '\u0000never');
          }
          for (const query of [
            `?secret=${encodeURIComponent(secret)}`,
            `?other=1&secret=${encodeURIComponent(secret)}`,
          ]) {
            const res = await request(guarded).post(`/redcap${query}`).type('form').send(det);
            expect(res.status).toBe(200);
            expect(res.body.status).toBe('ignored');
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('broken HTTP', () => {
  /** Writes raw bytes on a socket and returns whatever comes back before the server closes it (or 2 s pass). */
  function rawExchange(chunks: string[], endEarly: boolean): Promise<string> {
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let answer = '';
      const done = () => resolve(answer);
      socket.setTimeout(2_000, () => socket.destroy());
      socket.on('data', (data) => (answer += data.toString('latin1')));
      socket.on('error', done);
      socket.on('close', done);
      socket.on('connect', () => {
        for (const chunk of chunks) socket.write(chunk);
        if (endEarly) socket.end();
      });
    });
  }

  test('lying lengths, bad chunks, garbage request lines and hung-up clients: 4xx or a closed socket, never a 5xx', async () => {
    const head = (extra: string) =>
      `POST /redcap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n${extra}\r\n`;
    const cases: Array<[string[], boolean]> = [
      [[head('Content-Length: 1000\r\n'), 'record=1'], true], // shorter than announced, then hang up
      [[head('Content-Length: 5\r\n'), 'record=1&project_id=1234'], false], // longer than announced
      [[head('Transfer-Encoding: chunked\r\n'), 'zz\r\nrecord=1\r\n0\r\n\r\n'], false], // bad chunk size
      [[head('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n'), '3\r\nabc\r\n0\r\n\r\n'], false], // both (smuggling)
      [[head(`Content-Length: ${LIMIT * 10}\r\n`), 'x'.repeat(1000)], true], // announces 1 MB
      [['GARBAGE\r\n\r\n'], false],
      [['POST /redcap HTTP/1.1\r\nHost: x\r\nX: ' + 'y'.repeat(20_000) + '\r\n\r\n'], false], // huge header
      [['POST /redcap HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'], false],
      [['POST /redcap?secret=%ZZ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'], false],
      [['GET /sessions/%E0%A4%A HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n'], false],
    ];
    for (const [chunks, endEarly] of cases) {
      const answer = await rawExchange(chunks, endEarly);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
      if (status !== undefined) expect(Number(status)).toBeLessThan(500);
    }
  });
});

test('after all that, the process still answers', async () => {
  await request(server).get('/healthz').expect(200, { status: 'ok' });
  expect((await request(server).get('/readyz')).status).toBe(200);
});
