/**
 * Hostile input through the whole intake, with a worker on the suite's dev server: REDCap (a fake server) answers with
 * hostile comments, users and session fields, and the download job registers scans with hostile names and
 * descriptions. Text arrives in PostgreSQL and in GET /sessions/:id exactly as sent. The REDCap API is only ever
 * called at the config's URL, never at one named by the request, and no token or secret reaches a log, a workflow
 * history or an email.
 */
import { randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Runtime } from '@temporalio/worker';
import fc from 'fast-check';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { RedcapConfig, RedcapRecord } from '../../src/db/entities';
import { IntakeFailure } from '../../src/db/intake-failure';
import type { Orm } from '../../src/db/orm';
import { installTemporalRuntime } from '../../src/temporal/runtime';
import type { RedcapIntakeResult } from '../../surface';
import { createTestDatabase } from '../support/db';
import { FakeRedcap, type FakeProject } from '../support/fake-redcap';
import { hostileString, hugeString, storable } from '../support/hostile';
import { seedLab } from '../support/lab';
import { connectDevServer, workflowFailure } from '../support/temporal';
import { startTestWorker, type TestWorker } from '../support/worker';

const REDCAP_TOKEN = `A1B2C3D4E5F6${randomUUID().replace(/-/g, '').slice(0, 20).toUpperCase()}`;
const REVOKED_TOKEN = `FFEE${randomUUID().replace(/-/g, '').toUpperCase()}`;
const API_TOKEN = `api-${randomUUID()}`;
const DET_SECRET = `det-${randomUUID()}`;
const SECRETS = { REDCAP_TOKEN, REVOKED_TOKEN, API_TOKEN, DET_SECRET };
/** Subjects unique to this run: monitor ids (scan-import:<SESSION>) are global on the shared dev server. */
const RUN = randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase();
let serial = 0;
const nextSubject = () => `${RUN}${++serial}`;

/** Everything logged: the API's and the activities' pino lines, and the Temporal SDK's own log. */
const logLines: string[] = [];
const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
const auth = { Authorization: `Bearer ${API_TOKEN}` };

let orm: Orm;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let fake: FakeRedcap;
/** Another server, named in requests: it must never be called. */
let elsewhere: FakeRedcap;
let project: FakeProject;
let config: Config;
let worker: TestWorker;
let app: http.Server;
let goodConfig: RedcapConfig;
const workflows = new Set<string>();
const em = () => orm.em.fork() as EntityManager;

beforeAll(async () => {
  // The SDK's and the native core's log go through the same captured pino logger, as in the worker process.
  if (!Runtime._instance) installTemporalRuntime(logger);
  ({ orm } = await createTestDatabase());
  // REDCap config ids of our own: intake workflow ids (redcap-intake:<configId>:<record>) are global on the dev server.
  await orm.em.getConnection().execute(`select setval('redcap_config_id_seq', ${randomInt(1_000_000, 2_000_000_000)})`);
  await seedLab(orm, { downloadScript: null, postDownloadScript: null });
  fake = await FakeRedcap.start();
  elsewhere = await FakeRedcap.start();
  project = { token: REDCAP_TOKEN, records: [] };
  fake.addProject(project);
  elsewhere.addProject({ ...project });

  const seed = em();
  goodConfig = await seed.findOneOrFail(RedcapConfig, { project: 1234 });
  Object.assign(goodConfig, { url: fake.url, token: REDCAP_TOKEN, userField: 'ra_id' });
  seed.create(RedcapConfig, { ...pickConfigFields(goodConfig), url: `${fake.url}revoked/`, token: REVOKED_TOKEN });
  await seed.flush();

  temporal = await connectDevServer();
  config = loadConfig({
    API_TOKEN,
    DET_SECRET,
    TEMPORAL_TASK_QUEUE: `hostile-intake-${RUN}`,
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-intake-')),
    SCAN_CHECK_DELAY: '1 hour',
  });
  worker = await startTestWorker({ config, orm, server: temporal, logger });
  app = http.createServer(createApp({ config, orm, temporal: temporal.client, logger }).callback());
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const workflowId of workflows) {
    await temporal.client.workflow
      .getHandle(workflowId)
      .terminate('hostile-intake test done')
      .catch(() => undefined);
  }
  await worker?.stop();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
  await temporal?.close();
  await fake?.close();
  await elsewhere?.close();
  await orm?.close();
});

function pickConfigFields(c: RedcapConfig) {
  const {
    project: p,
    instrument,
    version,
    sessionField,
    dateField,
    commentField,
    userField,
    completedField,
    completedValue,
  } = c;
  return {
    project: p,
    instrument,
    version,
    sessionField,
    dateField,
    commentField,
    userField,
    completedField,
    completedValue,
  };
}

/** The DET REDCap sends for a record, as a form, plus whatever else a request may carry. */
function det(record: string, extra: Record<string, string> = {}, redcapUrl = fake.url): Record<string, string> {
  return {
    redcap_url: redcapUrl,
    project_url: `${redcapUrl}redcap_v14.5.2/index.php?pid=1234`,
    project_id: '1234',
    username: 'jdoe',
    record,
    instrument: 'mri_scan_log',
    mri_scan_log_complete: '2',
    ...extra,
  };
}

const postDet = (fields: Record<string, string>) =>
  request(app)
    .post(`/redcap?secret=${encodeURIComponent(DET_SECRET)}`)
    .type('form')
    .send(fields);

async function intake(workflowId: string): Promise<RedcapIntakeResult> {
  workflows.add(workflowId);
  const result = (await temporal.client.workflow.getHandle(workflowId).result()) as RedcapIntakeResult;
  workflows.add(result.monitors!.scanImport.workflowId);
  return result;
}

async function intakeFailure(workflowId: string): Promise<{ message: string; type?: string }> {
  workflows.add(workflowId);
  const cause = (await workflowFailure(temporal.client, workflowId)).cause as { message: string; type?: string };
  return { message: cause.message, type: cause.type };
}

/** A REDCap row for the record, every value a string as REDCap sends them. */
function addRow(record: string, values: { session: string; comment: string; user: string; date?: string }): void {
  project.records.push({
    record_id: record,
    session_id: values.session,
    scan_date: values.date ?? '2026-11-20',
    comments: values.comment,
    ra_id: values.user,
    mri_scan_log_complete: '2',
  });
}

/** Text REDCap could hold in a field: anything PostgreSQL can store as sent. */
const fieldText = (maxLength: number) => hostileString(maxLength).filter(storable);

/** The ways a session id is typed into REDCap, all naming the same session. */
function sessionSpellings(subject: string): string[] {
  const id = `SPN01_CMH_${subject}_01_01`;
  return [
    id,
    id.toLowerCase(),
    `  ${id}\t`,
    `\n${id.toLowerCase()} `,
    `SPN01_CMH_${subject}_01`,
    `SPN01_CMH_${subject}_01_SE01_MR`,
    `spn01_cmh_${subject}_01_se01_mr`,
  ];
}

describe('text through REDCap → PostgreSQL → GET /sessions/:id, and scans through POST → GET, exactly as sent', () => {
  test('hostile comments, users, session spellings, records, scan names and descriptions', async () => {
    const record = hostileString(150).filter((s) => storable(s) && s.trim() === s && s !== '');
    await fc.assert(
      fc.asyncProperty(
        record,
        fc.oneof(fieldText(500), hugeString(20_000)),
        fc.oneof(
          fc.constant(''),
          fieldText(255).filter((s) => s.length <= 255),
        ),
        fc.nat(6),
        fc.oneof(fieldText(200), fc.constant('x'.repeat(200))).filter((s) => s.trim() !== '' && s.length <= 200),
        fc.option(fc.oneof(fieldText(2000), fc.constant('y'.repeat(10_000))), { nil: null }),
        async (recordText, comment, user, spelling, scanName, description) => {
          const subject = nextSubject();
          const sessionId = `SPN01_CMH_${subject}_01_01`;
          const session = sessionSpellings(subject)[spelling];
          const recordId = `${subject}:${recordText}`;
          addRow(recordId, { session, comment, user });

          // The request names another server in every field it can; the record is read from the config's URL only.
          const res = await postDet(
            det(recordId, {
              project_url: `${elsewhere.url}redcap_v14.5.2/index.php?pid=1234`,
              url: elsewhere.url,
              api_url: `${elsewhere.url}api/`,
              redcap_api_url: `${elsewhere.url}api/`,
              token: REDCAP_TOKEN,
            }),
          ).expect(202);
          const result = await intake(res.body.workflowId);
          expect(result.sessionId).toBe(sessionId);

          const stored = await em().findOneOrFail(RedcapRecord, result.redcapRecordId);
          expect({
            record: stored.record,
            comment: stored.comment,
            user: stored.user ?? null,
            sessionName: stored.sessionName,
          }).toEqual({
            record: recordId,
            comment,
            user: user.trim() === '' ? null : user,
            sessionName: session,
          });
          const view = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
          expect(view.body.redcapRecord).toMatchObject({
            id: stored.id,
            record: recordId,
            comment,
            user: user.trim() === '' ? null : user,
          });

          const scan = { name: `${sessionId}_${scanName}`, series: 1, tag: 'T1', description };
          const posted = await request(app).post(`/sessions/${sessionId}/scans`).set(auth).send(scan).expect(201);
          expect(posted.body.scan).toEqual({ ...scan, name: scan.name.trim() });
          const after = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
          expect(after.body.scans).toEqual([expect.objectContaining({ ...scan, name: scan.name.trim() })]);
        },
      ),
      { numRuns: 40 },
    );
    expect(elsewhere.calls).toEqual([]);
    expect(fake.callsFor('record').length).toBeGreaterThanOrEqual(40);
  });

  test('text REDCap sends that cannot be stored as sent fails the intake at once, naming the field (no day of retries)', async () => {
    const cases: Array<{ values: { comment?: string; user?: string; session?: string }; type: string; match: RegExp }> =
      [
        { values: { comment: 'moved\u0000during DWI' }, type: 'RedcapFieldInvalid', match: /"comments".*NUL/ },
        { values: { comment: 'lone \ud800 surrogate' }, type: 'RedcapFieldInvalid', match: /"comments".*surrogate/ },
        { values: { user: 'u'.repeat(256) }, type: 'RedcapFieldInvalid', match: /"ra_id".*255/ },
        // The session id as typed is the participant's text: the history names the field, the email says what is wrong.
        {
          values: { session: `SPN01_CMH_${'9'.repeat(80)}_01_01` },
          type: 'InvalidSessionIdError',
          match: /"session_id"/,
        },
      ];
    for (const { values, type, match } of cases) {
      const subject = nextSubject();
      const recordId = `bad-${subject}`;
      addRow(recordId, { session: `SPN01_CMH_${subject}_01_01`, comment: 'ok', user: 'ra', ...values });
      const res = await postDet(det(recordId)).expect(202);
      const failure = await intakeFailure(res.body.workflowId);
      expect(failure.type).toBe(type);
      expect(failure.message).toMatch(match);
      if (type === 'InvalidSessionIdError') {
        expect(failure.message).not.toContain('9'.repeat(80));
        const detail = (await em().findOneOrFail(IntakeFailure, { workflowId: res.body.workflowId })).detail;
        expect(detail).toMatch(/Invalid session id ".*": it is too long/);
      }
      expect(await em().count(RedcapRecord, { record: recordId })).toBe(0);
    }
  });
});

describe('the REDCap call goes only to the config URL', () => {
  test('a trigger naming another server (or the right one in disguise) is ignored; nothing is sent there', async () => {
    const elsewhereHost = new URL(elsewhere.url).host;
    const fakeHost = new URL(fake.url).host;
    const disguises = [
      elsewhere.url,
      `http://${fakeHost}@${elsewhereHost}/`,
      `http://${elsewhereHost}/?${fake.url}`,
      `http://${elsewhereHost}/#${fake.url}`,
      `${fake.url.replace('127.0.0.1', 'localhost')}`,
      `${fake.url}..%2F..%2F`,
      `${fake.url}@${elsewhereHost}/`,
      `http://${elsewhereHost}/${fake.url}`,
    ];
    for (const redcapUrl of disguises) {
      const res = await postDet(det(`${nextSubject()}`, {}, redcapUrl));
      expect([200, 400]).toContain(res.status);
      if (res.status === 200) expect(res.body.status).toBe('ignored');
    }
    // JSON bodies too, with nested and array values naming the other server.
    const json = { ...det(nextSubject(), {}, elsewhere.url), api: { url: elsewhere.url }, urls: [elsewhere.url] };
    const res = await request(app)
      .post(`/redcap?secret=${encodeURIComponent(DET_SECRET)}`)
      .send(json)
      .expect(200);
    expect(res.body.status).toBe('ignored');
    expect(elsewhere.calls).toEqual([]);
  });
});

describe('tokens and secrets never in logs, histories or emails', () => {
  test('a full intake, a REDCap 403 (revoked token), admin calls with right and wrong tokens', async () => {
    const subject = nextSubject();
    const sessionId = `SPN01_CMH_${subject}_01_01`;
    addRow(`ok-${subject}`, { session: sessionId, comment: `token ${REDCAP_TOKEN.slice(0, 4)}…`, user: 'ra' });
    const ok = await postDet(det(`ok-${subject}`)).expect(202);
    const result = await intake(ok.body.workflowId);

    // The same project behind another URL, with a token REDCap refuses.
    const revoked = await postDet(det(`ok-${subject}`, {}, `${fake.url}revoked/`)).expect(202);
    const failure = await intakeFailure(revoked.body.workflowId);
    expect(failure.type).toBe('RedcapAccessDenied');
    // The revoked token's one call, refused: the first read of a project is its record id field (Export Metadata).
    expect(fake.callsFor('record', `ok-${subject}`).map((call) => call.tokenValid)).toEqual([true]);
    expect(fake.calls.filter((call) => !call.tokenValid)).toEqual([
      expect.objectContaining({ content: 'metadata', status: 403 }),
    ]);

    await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
    await request(app).get(`/redcap_redirect/${result.redcapRecordId}`).set(auth).expect(302);
    await request(app)
      .post(`/sessions/${sessionId}/scans`)
      .set(auth)
      .send({ name: `${sessionId}_T1`, series: 1, tag: 'T1' })
      .expect(201);
    await request(app).post(`/sessions/${sessionId}/monitors/cancel`).set(auth).send({ reason: 'done' }).expect(200);
    for (const header of [`Bearer ${API_TOKEN}x`, `Bearer ${API_TOKEN.toUpperCase()}`, `Basic ${API_TOKEN}`]) {
      await request(app).get(`/sessions/${sessionId}`).set('Authorization', header).expect(401);
    }
    await request(app)
      .post(`/redcap?secret=${encodeURIComponent(`${DET_SECRET}x`)}`)
      .type('form')
      .send(det('x'))
      .expect(403);

    const histories = await Promise.all(
      [ok.body.workflowId, revoked.body.workflowId, result.monitors!.scanImport.workflowId].map(async (id) =>
        JSON.stringify(await temporal.client.workflow.getHandle(id).fetchHistory()),
      ),
    );
    const outbox = path.join(config.dataDir, 'outbox');
    const mails = fs.readdirSync(outbox).map((file) => fs.readFileSync(path.join(outbox, file), 'utf8'));
    expect(mails.some((mail) => mail.includes(`ok-${subject}`))).toBe(true);
    expect(logLines.some((line) => line.includes('answered 403'))).toBe(true);
    expect(logLines.length).toBeGreaterThan(20);

    for (const [name, secret] of Object.entries(SECRETS)) {
      for (const [where, texts] of [
        ['logs', logLines],
        ['workflow histories', histories],
        ['emails', mails],
        ['the failure', [failure.message]],
      ] as const) {
        const leak = texts.find((text) => text.includes(secret));
        if (leak) throw new Error(`${name} found in ${where}: ${leak.slice(0, 500)}`);
      }
    }
  });
});
