/**
 * The REDCap intake end to end, through HTTP: POST /redcap (supertest on createApp) → RedcapIntakeWorkflow on
 * the dev server (a real worker) → the fake REDCap server → PostgreSQL → the monitors, and GET /redcap_redirect.
 * Admin email goes to a real SMTP server.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { RedcapConfig, RedcapRecord, Site, Study, StudySite, User } from '../../src/db/entities';
import { IntakeFailure } from '../../src/db/intake-failure';
import { ormConfig } from '../../src/db/mikro-orm.config';
import type { Orm } from '../../src/db/orm';
import { triggersTotal } from '../../src/metrics';
import { findSession } from '../../src/sessions/domain';
import { redcapIntakeWorkflowId, type RedcapIntakeResult } from '../../surface';
import { createTestDatabase } from '../support/db';
import { FakeRedcap, detFixtureFields, redcapFixtureRows } from '../support/fake-redcap';
import { freePort } from '../support/ports';
import { freeEmailHour } from '../support/lab';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp';
import { connectDevServer, workflowFailure } from '../support/temporal';
import { startTestWorker, type TestWorker } from '../support/worker';

const CLASSIC_TOKEN = 'A1B2C3D4E5F60718293A4B5C6D7E8F90';
const LONG_TOKEN = '0F1E2D3C4B5A69788796A5B4C3D2E1F0';
const WRONG_TOKEN = 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF';
const API_TOKEN = 'test-api-token';
/** Subjects unique to this run: monitor ids (scan-import:<SESSION>) are global on the shared dev server. */
const RUN = randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase();
const subject = (n: number) => `${RUN}${n}`;

let orm: Orm;
let fake: FakeRedcap;
let smtp: TestSmtpServer;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let worker: TestWorker;
let config: Config;
let app: ReturnType<ReturnType<typeof createApp>['callback']>;
let classicConfig: RedcapConfig;
let longConfig: RedcapConfig;
let badTokenConfig: RedcapConfig;
const logLines: string[] = [];
const startedMonitors: string[] = [];
const em = () => orm.em.fork() as EntityManager;

/** A classic row of the fixture for `record`, filed against session `sessionId` (as entered in REDCap). */
function classicRow(record: string, sessionId: string, changes: Record<string, string> = {}): Record<string, string> {
  return { ...redcapFixtureRows('export-classic.json')[0], record_id: record, session_id: sessionId, ...changes };
}

/** The DET REDCap sends for a fixture, from the fake server's URL (REDCap sends its own base URL). */
function det(fixture: string, changes: Record<string, string> = {}, redcapUrl = fake.url): Record<string, string> {
  const fields = detFixtureFields(fixture);
  return {
    ...fields,
    redcap_url: redcapUrl,
    project_url: `${redcapUrl}redcap_v14.5.2/index.php?pid=${fields.project_id}`,
    ...changes,
  };
}

const post = (fields: Record<string, string>, query = '') =>
  request(app).post(`/redcap${query}`).type('form').send(fields);

async function intakeResult(workflowId: string): Promise<RedcapIntakeResult> {
  const result = (await temporal.client.workflow.getHandle(workflowId).result()) as RedcapIntakeResult;
  if (result.monitors) startedMonitors.push(result.monitors.scanImport.workflowId);
  if (result.monitors?.scanDownload) startedMonitors.push(result.monitors.scanDownload.workflowId);
  return result;
}

async function intakeFailure(workflowId: string): Promise<{ message: string; type?: string }> {
  const cause = (await workflowFailure(temporal.client, workflowId)).cause as { message: string; type?: string };
  return { message: cause.message, type: cause.type };
}

/** A TCP server on 127.0.0.1 that accepts connections and never says a word. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const mailsAbout = (text: string) =>
  smtp.messages.filter((mail) => mail.subject.includes(text) || mail.text.includes(text));
const counter = async (outcome: string) =>
  (await triggersTotal.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
  fake = await FakeRedcap.start();
  smtp = await startSmtpServer();
  temporal = await connectDevServer();

  const scripts = fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-intake-jobs-'));
  for (const script of ['download.sh', 'post_download.sh']) fs.writeFileSync(path.join(scripts, script), 'exit 0\n');
  config = loadConfig({
    TEMPORAL_TASK_QUEUE: `redcap-intake-${RUN}`,
    SMTP_URL: smtp.url,
    API_TOKEN,
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-intake-data-')),
    SUBMIT_SCRIPTS: scripts,
  });
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

  const seed = em();
  const study = seed.create(Study, { id: 'SPN01', name: 'Social Processes Network' });
  const cmh = seed.create(Site, { id: 'CMH' });
  const zhh = seed.create(Site, { id: 'ZHH' });
  seed.create(StudySite, {
    study,
    site: cmh,
    code: 'SPN01',
    usesRedcap: true,
    downloadScript: 'download.sh',
    postDownloadScript: 'post_download.sh',
  });
  seed.create(StudySite, { study, site: zhh, code: 'SPN01', usesRedcap: true });
  seed.create(User, { name: 'Ada Admin', email: 'ada@example.org', admin: true });
  seed.create(User, { name: 'Rui Assistant', email: 'rui@example.org', admin: false });
  const fields = {
    version: '14.5.2',
    sessionField: 'session_id',
    dateField: 'scan_date',
    commentField: 'comments',
    completedValue: '2',
  };
  classicConfig = seed.create(RedcapConfig, {
    ...fields,
    url: fake.url,
    project: 1234,
    instrument: 'mri_scan_log',
    token: CLASSIC_TOKEN,
    userField: 'ra_id',
    completedField: 'mri_scan_log_complete',
  });
  longConfig = seed.create(RedcapConfig, {
    ...fields,
    url: fake.url,
    project: 2001,
    instrument: 'scan_visit',
    token: LONG_TOKEN,
    completedField: 'scan_visit_complete',
  });
  // The same project behind another base URL, with a token REDCap does not know.
  badTokenConfig = seed.create(RedcapConfig, {
    ...fields,
    url: `${fake.url}other/`,
    project: 1234,
    instrument: 'mri_scan_log',
    token: WRONG_TOKEN,
    completedField: 'mri_scan_log_complete',
  });
  await seed.flush();

  fake.addProject({
    token: CLASSIC_TOKEN,
    records: [
      classicRow(
        '17',
        redcapFixtureRows('export-classic.json')[0].session_id.replace('0001', subject(1).toLowerCase()),
      ),
      classicRow('20', `SPN01_CMH_${subject(2)}_01_01`),
      classicRow('21', `SPN01_CMH_${subject(3)}_01_01`),
      classicRow('22', `SPN01_CMH_${subject(4)}_01_01`),
      classicRow('23', 'not a session id'),
      classicRow('24', `ABC99_CMH_${subject(5)}_01_01`),
      classicRow('25', `SPN01_ZHH_${subject(6)}_01_01`, { comments: '' }),
    ],
  });
  fake.addProject({
    token: LONG_TOKEN,
    records: redcapFixtureRows('export-longitudinal.json').map((row) => ({
      ...row,
      session_id: row.session_id.replace('0042', subject(7)),
    })),
    events: { baseline_arm_1: 41, month_6_arm_1: 42 },
  });

  worker = await startTestWorker({ config, orm, server: temporal, logger });
  app = createApp({ config, orm, temporal: temporal.client, logger }).callback();
});

afterAll(async () => {
  for (const workflowId of startedMonitors) {
    await temporal.client.workflow
      .getHandle(workflowId)
      .terminate('redcap-intake test done')
      .catch(() => undefined);
  }
  await worker?.stop();
  await temporal?.close();
  await smtp?.close();
  await fake?.close();
  await orm?.close();
});

afterEach(() => fake.heal());

describe('accepted triggers', () => {
  test('classic project: the record is read back, filed against its session, the monitors start, the redirect works', async () => {
    const accepted = await counter('accepted');
    const res = await post(det('det-classic-complete.form')).expect(202);
    const workflowId = redcapIntakeWorkflowId(classicConfig.id, '17');
    expect(res.body).toEqual({ status: 'accepted', workflowId });
    expect(workflowId).toBe(`redcap-intake:${classicConfig.id}:17`);
    expect(await counter('accepted')).toBe(accepted + 1);

    const sessionId = `SPN01_CMH_${subject(1)}_01_01`;
    const result = await intakeResult(workflowId);
    expect(result).toMatchObject({ sessionId, sessionCreated: true, change: 'created', reads: 1 });
    expect(result.monitors?.scanImport.workflowId).toBe(`scan-import:${sessionId}`);
    expect(result.monitors?.scanDownload?.workflowId).toBe(`scan-download:${sessionId}`);

    const session = await findSession(em(), sessionId);
    expect(session.date).toBe('2026-11-20');
    const record = session.redcap!.record!;
    expect(record).toMatchObject({
      id: result.redcapRecordId,
      record: '17',
      eventName: '',
      eventId: null,
      entryDate: '2026-11-20',
      comment: 'Fieldmap repeated',
      user: '42',
      sessionName: `spn01_cmh_${subject(1).toLowerCase()}_01_01`,
    });
    expect(record.config.id).toBe(classicConfig.id);

    // Export Records once, with the configured token; no Export Events for a classic project.
    expect(fake.callsFor('record', '17')).toEqual([expect.objectContaining({ tokenValid: true, status: 200 })]);
    expect(fake.callsFor('event')).toHaveLength(0);

    // The monitors run; ops find the intake and the monitors by SessionId.
    const monitor = await temporal.client.workflow.getHandle(`scan-import:${sessionId}`).describe();
    expect(monitor.status.name).toBe('RUNNING');
    // The monitor is given the session and its wait, nothing else: it reads the session itself.
    const [started] = (await temporal.client.workflow.getHandle(`scan-import:${sessionId}`).fetchHistory()).events!;
    const [input] = started.workflowExecutionStartedEventAttributes!.input!.payloads!.map((p) =>
      JSON.parse(Buffer.from(p.data!).toString()),
    );
    expect(input).toEqual({ sessionId, studyId: 'SPN01', siteId: 'CMH', checkDelayMs: expect.any(Number) });
    const intake = await temporal.client.workflow.getHandle(workflowId).describe();
    expect(intake.searchAttributes.SessionId).toEqual([sessionId]);
    expect(intake.memo).toMatchObject({
      record: '17',
      project: 1234,
      instrument: 'mri_scan_log',
      sessionId,
      redcapRecordId: record.id,
    });

    const redirect = await request(app)
      .get(`/redcap_redirect/${record.id}`)
      .set('Authorization', `Bearer ${API_TOKEN}`)
      .expect(302);
    expect(redirect.headers.location).toBe(
      `${fake.url}redcap_v14.5.2/DataEntry/index.php?pid=1234&id=17&page=mri_scan_log`,
    );
  });

  test('longitudinal project: only the trigger event row is filed, with its event_id in the redirect', async () => {
    const res = await post(det('det-longitudinal.form')).expect(202);
    const workflowId = redcapIntakeWorkflowId(longConfig.id, 'CMH0042', 'month_6_arm_1');
    expect(res.body).toEqual({ status: 'accepted', workflowId });
    expect(workflowId).toBe(`redcap-intake:${longConfig.id}:CMH0042:month_6_arm_1`);

    const sessionId = `SPN01_CMH_${subject(7)}_02_01`;
    const result = await intakeResult(workflowId);
    expect(result.sessionId).toBe(sessionId);
    expect(result.monitors?.scanDownload).toBeDefined();
    const record = await em().findOneOrFail(RedcapRecord, result.redcapRecordId);
    expect(record).toMatchObject({
      record: 'CMH0042',
      eventName: 'month_6_arm_1',
      eventId: 42,
      entryDate: '2026-11-03',
      comment: 'Participant moved during DWI',
      user: null,
    });
    // The baseline row of the same record was not filed.
    expect(await em().count(RedcapRecord, { record: 'CMH0042' })).toBe(1);

    const redirect = await request(app)
      .get(`/redcap_redirect/${record.id}`)
      .set('Authorization', `Bearer ${API_TOKEN}`)
      .expect(302);
    expect(redirect.headers.location).toBe(
      `${fake.url}redcap_v14.5.2/DataEntry/index.php?pid=2001&id=CMH0042&event_id=42&page=scan_visit`,
    );
  });

  test('Export Events failing leaves the event id empty (and says so in the log); the record is still filed', async () => {
    fake.failNext(1, 500, 'event');
    const res = await post(det('det-longitudinal.form', { redcap_event_name: 'baseline_arm_1' })).expect(202);
    const result = await intakeResult(res.body.workflowId);
    expect(result.sessionId).toBe(`SPN01_CMH_${subject(7)}_01_01`);
    const record = await em().findOneOrFail(RedcapRecord, result.redcapRecordId);
    expect(record).toMatchObject({ eventName: 'baseline_arm_1', eventId: null });
    expect(logLines.some((line) => line.includes('Export Events failed') && line.includes('CMH0042'))).toBe(true);
    const redirect = await request(app)
      .get(`/redcap_redirect/${record.id}`)
      .set('Authorization', `Bearer ${API_TOKEN}`)
      .expect(302);
    expect(redirect.headers.location).not.toContain('event_id');
  });

  test('the same trigger twice, at once and again later: one workflow at a time, one record, the monitors once', async () => {
    const fields = det('det-classic-complete.form', { record: '20' });
    const [first, second] = await Promise.all([post(fields).expect(202), post(fields).expect(202)]);
    expect(second.body.workflowId).toBe(first.body.workflowId);
    const result = await intakeResult(first.body.workflowId);
    const { runId } = await temporal.client.workflow.getHandle(first.body.workflowId).describe();
    // The second trigger joined the running intake: read once, or once more if it came after the first read began.
    expect(fake.callsFor('record', '20')).toHaveLength(result.reads);
    expect(result.monitors).not.toBeNull();

    // After the intake completed, the same trigger (the form saved again) reads the record again under the same
    // id: a new run, which finds nothing to change and starts no monitor (they run once).
    const again = await post(fields).expect(202);
    expect(again.body).toEqual({ status: 'accepted', workflowId: first.body.workflowId });
    const rerun = await intakeResult(first.body.workflowId);
    expect((await temporal.client.workflow.getHandle(first.body.workflowId).describe()).runId).not.toBe(runId);
    expect(rerun).toMatchObject({
      sessionId: result.sessionId,
      redcapRecordId: result.redcapRecordId,
      change: 'unchanged',
      monitors: null,
      sessionCreated: false,
    });
    expect(fake.callsFor('record', '20')).toHaveLength(result.reads + 1);
    expect(await em().count(RedcapRecord, { record: '20', config: classicConfig.id })).toBe(1);
    expect((await findSession(em(), result.sessionId)).redcap?.record?.id).toBe(result.redcapRecordId);
    const monitor = await temporal.client.workflow.getHandle(`scan-import:${result.sessionId}`).describe();
    expect(monitor.runId).toBe(result.monitors?.scanImport.runId);
  });

  test('REDCap down for a while, then back: the intake retries and the record is filed', async () => {
    fake.failNext(3, 503);
    const res = await post(det('det-classic-complete.form', { record: '21' })).expect(202);
    const result = await intakeResult(res.body.workflowId);
    expect(fake.callsFor('record', '21').map((call) => call.status)).toEqual([503, 503, 503, 200]);
    expect(result.sessionId).toBe(`SPN01_CMH_${subject(3)}_01_01`);
    expect((await findSession(em(), result.sessionId)).redcap?.record?.record).toBe('21');
  });

  test('a site without a download script gets only the import monitor; an empty comment is kept empty', async () => {
    const res = await post(det('det-classic-complete.form', { record: '25' })).expect(202);
    const result = await intakeResult(res.body.workflowId);
    expect(result.sessionId).toBe(`SPN01_ZHH_${subject(6)}_01_01`);
    expect(result.monitors).not.toBeNull();
    expect(result.monitors?.scanDownload).toBeUndefined();
    expect(await em().findOneOrFail(RedcapRecord, result.redcapRecordId)).toMatchObject({ comment: '' });
  });
});

describe('failed intakes: the workflow fails with the reason, the admins get one email', () => {
  // Each failure here emails: the hour of the config's limited emails starts free (src/mail/throttle.ts).
  beforeEach(() => freeEmailHour(orm));

  test('a token REDCap refuses (403); after fixing it, the same trigger starts a new intake', async () => {
    const fields = det('det-classic-complete.form', { record: '22' }, `${fake.url}other/`);
    const res = await post(fields).expect(202);
    const workflowId = redcapIntakeWorkflowId(badTokenConfig.id, '22');
    expect(res.body.workflowId).toBe(workflowId);

    const failure = await intakeFailure(workflowId);
    expect(failure.type).toBe('RedcapAccessDenied');
    expect(failure.message).toMatch(/record 22 .*answered 403: You do not have permissions to use the API/);
    // One call, refused, never retried: the first read of a project is its record id field (Export Metadata).
    expect(fake.calls.filter((call) => !call.tokenValid)).toEqual([
      expect.objectContaining({ content: 'metadata', status: 403 }),
    ]);

    const mails = mailsAbout('record 22');
    expect(mails).toHaveLength(1);
    expect(mails[0].to).toEqual(['ada@example.org']);
    expect(mails[0].subject).toBe('REDCap record 22 could not be filed');
    expect(mails[0].text).toContain('You do not have permissions to use the API');
    expect(mails[0].text).toContain(workflowId);
    for (const text of [failure.message, mails[0].raw, ...logLines]) expect(text).not.toContain(WRONG_TOKEN);

    // The admin fixes the token; REDCap's next trigger for the record starts a new run.
    await em().nativeUpdate(RedcapConfig, { id: badTokenConfig.id }, { token: CLASSIC_TOKEN });
    const { runId: failedRun } = await temporal.client.workflow.getHandle(workflowId).describe();
    await post(fields).expect(202);
    const result = await intakeResult(workflowId);
    expect(result.sessionId).toBe(`SPN01_CMH_${subject(4)}_01_01`);
    expect((await temporal.client.workflow.getHandle(workflowId).describe()).runId).not.toBe(failedRun);
    expect(mailsAbout('record 22')).toHaveLength(1);
  });

  test('a session id that fits no convention', async () => {
    const res = await post(det('det-classic-complete.form', { record: '23' })).expect(202);
    const failure = await intakeFailure(res.body.workflowId);
    expect(failure.type).toBe('InvalidSessionIdError');
    // The history names the record and the problem; what the RA typed is the participant's text: email and database.
    expect(failure.message).toBe(
      `REDCap record 23 (config ${classicConfig.id}): the session id in "session_id" fits no session id convention`,
    );
    const history = JSON.stringify(await temporal.client.workflow.getHandle(res.body.workflowId).fetchHistory());
    expect(history).not.toContain('not a session id');
    const mails = mailsAbout('record 23');
    expect(mails).toHaveLength(1);
    expect(mails[0].text).toContain('Invalid session id "not a session id"');
    expect(await em().findOneOrFail(IntakeFailure, { workflowId: res.body.workflowId })).toMatchObject({
      record: '23',
      type: 'InvalidSessionIdError',
      field: 'session_id',
      detail: expect.stringContaining('Invalid session id "not a session id"'),
      rowDigest: expect.stringMatching(/^[0-9a-f]{16}$/),
      reportedAt: expect.any(Date),
    });
    expect(await em().count(RedcapRecord, { record: '23' })).toBe(0);
  });

  test('a session of an unknown study', async () => {
    const res = await post(det('det-classic-complete.form', { record: '24' })).expect(202);
    const failure = await intakeFailure(res.body.workflowId);
    expect(failure.type).toBe('UnknownStudyError');
    expect(failure.message).toContain(`Unknown study for session "ABC99_CMH_${subject(5)}_01_01"`);
    expect(mailsAbout('record 24')).toHaveLength(1);
  });

  test('REDCap down for longer than the fetch timeout (an input; 1 day by default): the intake gives up', async () => {
    fake.failNext(10_000, 503);
    const workflowId = `redcap-intake-test:${RUN}:give-up`;
    await temporal.client.workflow.start('RedcapIntakeWorkflow', {
      taskQueue: config.taskQueue,
      workflowId,
      args: [{ configId: classicConfig.id, record: '21', eventName: null, fetchTimeout: '4 seconds' }],
    });
    const failure = await intakeFailure(workflowId);
    expect(failure.type).toBe('IntakeTimedOut');
    expect(failure.message).toMatch(
      /^Gave up reading and filing the REDCap record after 4 seconds; last error: .*record 21.*answered 503/,
    );
    const mails = smtp.messages.filter((mail) => mail.text.includes(workflowId));
    expect(mails).toHaveLength(1);
    expect(mails[0].subject).toBe('REDCap record 21 could not be filed');
    // Recorded as a failure that judged nothing about the row: reconciliation tries it again.
    expect(await em().findOneOrFail(IntakeFailure, { workflowId })).toMatchObject({
      type: 'IntakeTimedOut',
      rowDigest: null,
      reportedAt: expect.any(Date),
    });
  });

  test('a record REDCap does not have', async () => {
    const res = await post(det('det-classic-complete.form', { record: '404' })).expect(202);
    const failure = await intakeFailure(res.body.workflowId);
    expect(failure).toMatchObject({ type: 'RedcapRecordNotFound', message: expect.stringContaining('no record 404') });
    expect(mailsAbout('record 404')).toHaveLength(1);
  });
});

describe('triggers that start nothing', () => {
  test('an incomplete form is ignored, with the reason', async () => {
    const ignored = await counter('ignored');
    const res = await post(det('det-classic-incomplete.form')).expect(200);
    expect(res.body).toEqual({
      status: 'ignored',
      reason: 'mri_scan_log_complete is "0", not "2" (the form is not complete)',
    });
    expect(await counter('ignored')).toBe(ignored + 1);
    await expect(
      temporal.client.workflow.getHandle(redcapIntakeWorkflowId(classicConfig.id, '18')).describe(),
    ).rejects.toThrow(WorkflowNotFoundError);
    expect(fake.callsFor('record', '18')).toHaveLength(0);
  });

  test('a project, instrument or server without a REDCap config is ignored', async () => {
    for (const changes of [{ project_id: '9999' }, { instrument: 'other_form' }] as Array<Record<string, string>>) {
      const res = await post(det('det-classic-complete.form', changes)).expect(200);
      expect(res.body.status).toBe('ignored');
      expect(res.body.reason).toMatch(/^No REDCap config for project/);
    }
    const elsewhere = await post(det('det-classic-complete.form', {}, 'https://redcap.example.org/')).expect(200);
    expect(elsewhere.body.reason).toBe(
      'No REDCap config for project 1234, instrument mri_scan_log at https://redcap.example.org/',
    );
  });

  test('the REDCap URL matches with or without its trailing slash', async () => {
    const res = await post(det('det-classic-incomplete.form', { redcap_url: fake.url.replace(/\/$/, '') })).expect(200);
    expect(res.body.reason).toMatch(/not complete/);
  });

  test('missing keys: 400 listing the keys found', async () => {
    const rejected = await counter('rejected');
    const res = await post({ record: '17', foo: 'bar' }).expect(400);
    expect(res.body.error).toMatch(/missing project_id, redcap_url, instrument, project_url/);
    expect(res.body.keysFound).toEqual(['foo', 'record']);
    expect(res.body.missing).toEqual(['project_id', 'redcap_url', 'instrument', 'project_url']);
    expect(await counter('rejected')).toBe(rejected + 1);
    const empty = await request(app).post('/redcap').expect(400);
    expect(empty.body.keysFound).toEqual([]);
  });

  test('bodies that are no DET: a 4xx JSON answer, never a 5xx', async () => {
    const form = new URLSearchParams(det('det-classic-complete.form')).toString();
    const cases: Array<{ type?: string; encoding?: string; body: string; status: number }> = [
      { type: 'application/x-www-form-urlencoded', encoding: 'gzip', body: form, status: 400 },
      { type: 'application/x-www-form-urlencoded', encoding: 'x-unknown', body: form, status: 415 },
      // An unknown charset is read as UTF-8 (what REDCap sends).
      {
        type: 'application/x-www-form-urlencoded; charset=x-bogus',
        body: new URLSearchParams(det('det-classic-incomplete.form')).toString(),
        status: 200,
      },
      { type: 'application/json', body: '{"record": ', status: 400 },
      {
        type: 'multipart/form-data; boundary=XyZ',
        body: '--XyZ\r\nContent-Disposition: form-data; name="record"\r\n\r\n17\r\n--XyZ--\r\n',
        status: 400,
      },
      { type: 'text/plain', body: form, status: 400 },
    ];
    for (const { type, encoding, body, status } of cases) {
      let req = request(app).post('/redcap');
      if (type) req = req.set('Content-Type', type);
      if (encoding) req = req.set('Content-Encoding', encoding);
      const res = await req.send(body);
      expect({ type, encoding, status: res.status }).toEqual({ type, encoding, status });
      expect(res.body).toEqual(
        status === 200
          ? expect.objectContaining({ status: 'ignored' })
          : expect.objectContaining({ error: expect.any(String) }),
      );
    }
    // NUL cannot be stored or looked up: a 400 naming the field, not "database unavailable".
    const nul = await post(det('det-classic-complete.form', { record: '17\u0000' })).expect(400);
    expect(nul.body.error).toMatch(/record contains a NUL/);
    const huge = await post(det('det-classic-complete.form', { project_id: '9'.repeat(40) })).expect(400);
    expect(huge.body.error).toMatch(/project_id must be at most 2147483647/);
  });

  test('a body over 100 kB: 413', async () => {
    const res = await post({ ...det('det-classic-complete.form'), notes: 'x'.repeat(101 * 1024) }).expect(413);
    expect(res.body.error).toMatch(/over 100 kB/);
  });

  test('DET_SECRET set: 403 unless ?secret= matches', async () => {
    const guarded = createApp({
      config: { ...config, detSecret: 's3cret-value' },
      orm,
      temporal: temporal.client,
    }).callback();
    const fields = det('det-classic-incomplete.form');
    for (const query of ['', '?secret=', '?secret=wrong', '?secret=s3cret-valuex']) {
      const res = await request(guarded).post(`/redcap${query}`).type('form').send(fields).expect(403);
      expect(res.body.error).toMatch(/secret/);
      expect(JSON.stringify(res.body)).not.toContain('s3cret-value');
    }
    const ok = await request(guarded).post('/redcap?secret=s3cret-value').type('form').send(fields).expect(200);
    expect(ok.body.status).toBe('ignored');
  });
});

describe('services down: 503 naming which, never a hang', () => {
  test('Temporal unreachable (a closed port)', async () => {
    const failed = await counter('failed');
    const client = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }) });
    try {
      const down = createApp({ config, orm, temporal: client }).callback();
      const res = await request(down)
        .post('/redcap')
        .type('form')
        .send(det('det-classic-complete.form', { record: '30' }))
        .expect(503);
      expect(res.body.error).toMatch(/^Temporal unavailable/);
      expect(res.body.unavailable).toBe('temporal');
      expect(await counter('failed')).toBe(failed + 1);
    } finally {
      await client.connection.close();
    }
  });

  test('Temporal not answering (a port that accepts and says nothing)', async () => {
    const silent = await silentServer();
    const client = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${silent.port}` }) });
    try {
      const down = createApp({ config, orm, temporal: client }).callback();
      const res = await request(down)
        .post('/redcap')
        .type('form')
        .send(det('det-classic-complete.form', { record: '31' }))
        .expect(503);
      expect(res.body).toMatchObject({
        unavailable: 'temporal',
        error: expect.stringMatching(/^Temporal unavailable/),
      });
    } finally {
      await client.connection.close();
      await silent.close();
    }
  });

  test('database unreachable (a closed port)', async () => {
    const unreachable = MikroORM.initSync(
      ormConfig(`postgresql://postgres:postgres@127.0.0.1:${await freePort()}/none`),
    );
    try {
      const down = createApp({ config, orm: unreachable, temporal: temporal.client }).callback();
      const res = await request(down).post('/redcap').type('form').send(det('det-classic-complete.form')).expect(503);
      expect(res.body.error).toMatch(/^Database unavailable/);
      expect(res.body.unavailable).toBe('database');
      await request(down).get('/redcap_redirect/1').set('Authorization', `Bearer ${API_TOKEN}`).expect(503);
    } finally {
      await unreachable.close(true);
    }
  });

  test('database not answering (a port that accepts and says nothing)', async () => {
    const silent = await silentServer();
    const hung = MikroORM.initSync(ormConfig(`postgresql://postgres:postgres@127.0.0.1:${silent.port}/none`));
    try {
      const down = createApp({ config, orm: hung, temporal: temporal.client }).callback();
      const res = await request(down).post('/redcap').type('form').send(det('det-classic-complete.form')).expect(503);
      expect(res.body.unavailable).toBe('database');
    } finally {
      await hung.close(true);
      await silent.close();
    }
  });
});

describe('GET /redcap_redirect/:recordId', () => {
  test('401 without the bearer token, 404 for an unknown or malformed id', async () => {
    await request(app).get('/redcap_redirect/1').expect(401);
    await request(app).get('/redcap_redirect/1').set('Authorization', 'Bearer wrong').expect(401);
    for (const id of ['999999', 'abc', '1.5', '99999999999999999999']) {
      const res = await request(app)
        .get(`/redcap_redirect/${id}`)
        .set('Authorization', `Bearer ${API_TOKEN}`)
        .expect(404);
      expect(res.body.error).toContain(`No REDCap record ${id}`);
    }
  });
});

test('no REDCap token in any log line of the API or the worker', () => {
  expect(logLines.length).toBeGreaterThan(0);
  for (const token of [CLASSIC_TOKEN, LONG_TOKEN, WRONG_TOKEN]) {
    expect(logLines.filter((line) => line.includes(token))).toEqual([]);
  }
});
