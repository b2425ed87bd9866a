/** Payload encryption: the codec, its keys from the environment, and the codec server the Web UI and CLI call. */
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import pino from 'pino';
import request from 'supertest';
import { ConfigError, loadConfig } from '../../src/config';
import { createCodecApp } from '../../src/temporal/codec-server';
import { EncryptionCodec, KEY_ID_METADATA } from '../../src/temporal/data-converter';

const base64Key = () => randomBytes(32).toString('base64');
const keyOf = (id: string) => ({ id, key: randomBytes(32) });
const comment = 'Participant moved during DWI';
const payloadOf = (value: unknown) => defaultPayloadConverter.toPayload(value);

describe('the codec', () => {
  test('encrypts with the first key, naming it; decrypts back to the payload', async () => {
    const codec = new EncryptionCodec([keyOf('k2'), keyOf('k1')]);
    const [encrypted] = await codec.encode([payloadOf({ comment })]);
    expect(Buffer.from(encrypted.metadata![KEY_ID_METADATA]).toString()).toBe('k2');
    expect(Buffer.from(encrypted.data!).toString('latin1')).not.toContain('DWI');
    const [decrypted] = await codec.decode([encrypted]);
    expect(defaultPayloadConverter.fromPayload(decrypted)).toEqual({ comment });
  });

  test('rotation: a payload of the old key still decrypts once a new key is listed first', async () => {
    const old = keyOf('2026-01');
    const [encrypted] = await new EncryptionCodec([old]).encode([payloadOf(comment)]);
    const rotated = new EncryptionCodec([keyOf('2026-12'), old]);
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([encrypted]))[0])).toBe(comment);
  });

  test('payloads that are not encrypted pass through (histories from before it was turned on)', async () => {
    const plain = payloadOf({ sessionId: 'SPN01_CMH_0001_01_01' });
    expect(await new EncryptionCodec([keyOf('k')]).decode([plain])).toEqual([plain]);
    expect(await new EncryptionCodec([]).encode([plain])).toEqual([plain]);
  });

  test('an unknown key id, another key under the same id, or a damaged payload: an error naming the key id', async () => {
    const [encrypted] = await new EncryptionCodec([keyOf('gone')]).encode([payloadOf(comment)]);
    await expect(new EncryptionCodec([keyOf('k1'), keyOf('k2')]).decode([encrypted])).rejects.toThrow(
      'a payload is encrypted with key id "gone", which TEMPORAL_CODEC_KEYS does not hold (it holds k1, k2)',
    );
    await expect(new EncryptionCodec([]).decode([encrypted])).rejects.toThrow(/"gone".*TEMPORAL_CODEC_KEYS is unset/);
    await expect(new EncryptionCodec([keyOf('gone')]).decode([encrypted])).rejects.toThrow(
      /key id "gone" does not decrypt with the key of that id/,
    );
    // The key id is authenticated: relabelled, the payload does not decrypt with the other key.
    const own = keyOf('a');
    const [mine] = await new EncryptionCodec([own]).encode([payloadOf(comment)]);
    const relabelled = { ...mine, metadata: { ...mine.metadata, [KEY_ID_METADATA]: Buffer.from('b') } };
    await expect(new EncryptionCodec([own, { id: 'b', key: own.key }]).decode([relabelled])).rejects.toThrow(/"b"/);
  });
});

describe('keys from the environment', () => {
  test('TEMPORAL_CODEC_KEYS: id:key pairs, the first encrypts; TEMPORAL_CODEC_KEY: one key, id "default"', () => {
    const [a, b] = [base64Key(), base64Key()];
    expect(loadConfig({ TEMPORAL_CODEC_KEYS: ` new:${a} , old.1:${b}` }).codecKeys).toEqual([
      { id: 'new', key: Buffer.from(a, 'base64') },
      { id: 'old.1', key: Buffer.from(b, 'base64') },
    ]);
    expect(loadConfig({ TEMPORAL_CODEC_KEY: a }).codecKeys).toEqual([{ id: 'default', key: Buffer.from(a, 'base64') }]);
    expect(loadConfig({}).codecKeys).toEqual([]);
  });

  test.each([
    [
      'a key of the wrong length',
      { TEMPORAL_CODEC_KEYS: `k1:${randomBytes(16).toString('base64')}` },
      /TEMPORAL_CODEC_KEYS: the key "k1" is not 32 bytes in base64/,
    ],
    [
      'a key that is not base64',
      { TEMPORAL_CODEC_KEY: `${'é'.repeat(43)}=` },
      /TEMPORAL_CODEC_KEY: the key "default" is not 32 bytes in base64/,
    ],
    [
      'an entry without an id',
      { TEMPORAL_CODEC_KEYS: base64Key() },
      /TEMPORAL_CODEC_KEYS: each entry is <key id>:<base64 key>/,
    ],
    ['an id given twice', { TEMPORAL_CODEC_KEYS: `k:${base64Key()},k:${base64Key()}` }, /key id "k" is given twice/],
    ['both variables', { TEMPORAL_CODEC_KEYS: `k:${base64Key()}`, TEMPORAL_CODEC_KEY: base64Key() }, /not both/],
  ])('%s stops the start, naming the variable and never the key', (_what, env, message) => {
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    for (const value of Object.values(env))
      for (const part of value.split(/[,:]/))
        if (part.length > 20) expect((err as Error).message).not.toContain(part.trim());
  });
});

describe('the codec server', () => {
  const keys = [keyOf('k1')];
  const token = 'codec-token-for-tests';
  const uiOrigin = 'http://127.0.0.1:8233';
  const app = createCodecApp({ keys, token, corsOrigins: [uiOrigin], logger: pino({ level: 'silent' }) }).callback();
  const json = (payloads: Array<{ metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null }>) => ({
    payloads: payloads.map(({ metadata, data }) => ({
      metadata: Object.fromEntries(
        Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
      data: Buffer.from(data ?? []).toString('base64'),
    })),
  });

  test('POST /decode with the token (header, or first path segment as the Web UI calls it) decrypts', async () => {
    const encrypted = await new EncryptionCodec(keys).encode([payloadOf({ comment })]);
    for (const [path, auth] of [
      ['/decode', `Bearer ${token}`],
      [`/${token}/decode`, undefined],
    ] as const) {
      const call = request(app).post(path).set('Origin', uiOrigin).set('X-Namespace', 'default').send(json(encrypted));
      const res = await (auth ? call.set('Authorization', auth) : call).expect(200);
      expect(res.headers['access-control-allow-origin']).toBe(uiOrigin);
      const [payload] = res.body.payloads as Array<{ data: string }>;
      expect(JSON.parse(Buffer.from(payload.data, 'base64').toString())).toEqual({ comment });
    }
  });

  test('POST /encode encrypts with the first key, which /decode reads back', async () => {
    const res = await request(app)
      .post('/encode')
      .set('Authorization', `Bearer ${token}`)
      .send(json([payloadOf(comment)]))
      .expect(200);
    expect(Buffer.from(res.body.payloads[0].metadata[KEY_ID_METADATA], 'base64').toString()).toBe('k1');
    const back = await request(app).post('/decode').set('Authorization', `Bearer ${token}`).send(res.body).expect(200);
    expect(Buffer.from(back.body.payloads[0].data, 'base64').toString()).toBe(JSON.stringify(comment));
  });

  test('no token 401, a wrong one 403; a payload of an unknown key or a bad body 400, never a 500', async () => {
    const encrypted = await new EncryptionCodec(keys).encode([payloadOf(comment)]);
    expect((await request(app).post('/decode').send(json(encrypted)).expect(401)).body.error).toMatch(/Missing token/);
    await request(app).post('/decode').set('Authorization', 'Bearer wrong').send(json(encrypted)).expect(403);
    await request(app).post('/wrong/decode').send(json(encrypted)).expect(403);
    const foreign = await new EncryptionCodec([keyOf('elsewhere')]).encode([payloadOf(comment)]);
    const unknown = await request(app)
      .post('/decode')
      .set('Authorization', `Bearer ${token}`)
      .send(json(foreign))
      .expect(400);
    expect(unknown.body.error).toMatch(/key id "elsewhere"/);
    for (const bad of [{}, { payloads: 'x' }, { payloads: [{ data: 'not base64!' }] }])
      await request(app).post('/decode').set('Authorization', `Bearer ${token}`).send(bad).expect(400);
    await request(app)
      .post('/decode')
      .set('Authorization', `Bearer ${token}`)
      .type('json')
      .send('{"payloads": [')
      .expect(400);
    await request(app).get('/decode').set('Authorization', `Bearer ${token}`).expect(405);
  });

  test("CORS: the Web UI's origin gets its preflight, any other origin none", async () => {
    const ok = await request(app)
      .options('/decode')
      .set('Origin', uiOrigin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type,x-namespace')
      .expect(204);
    expect(ok.headers).toMatchObject({
      'access-control-allow-origin': uiOrigin,
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-credentials': 'true',
    });
    expect(ok.headers['access-control-allow-headers']).toMatch(/X-Namespace/);
    const other = await request(app).options('/decode').set('Origin', 'https://evil.example').expect(403);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const post = await request(app)
      .post('/decode')
      .set('Origin', 'https://evil.example')
      .set('Authorization', `Bearer ${token}`)
      .send({ payloads: [] })
      .expect(200);
    expect(post.headers['access-control-allow-origin']).toBeUndefined();
  });
});
