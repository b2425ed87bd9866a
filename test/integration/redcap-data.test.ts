/**
 * REDCap data as it really comes, end to end on real servers: POST /redcap (supertest on createApp) → the intake on
 * the Temporal dev server (real workers) → a fake REDCap answering with REDCap's shapes (repeat rows whose
 * redcap_repeat_instance is a JSON number, record names like `331-2` and `Zoë 7`, `[survey respondent]`) →
 * PostgreSQL → the monitors; admin email through a real SMTP server.
 * Repeating instruments and events, re-saves (after the intake finished, and racing a running one), moved sessions,
 * monitors that run once, the REDCap version of the latest trigger, cancelled intakes.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CancelledFailure, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { RedcapConfig, RedcapRecord, Site, Study, StudySite, User } from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { findSession } from '../../src/sessions/domain';
import { findRedcapIntake } from '../../src/temporal/intakes';
import { redcapIntakeWorkflowId, type RedcapIntakeResult } from '../../surface';
import { createTestDatabase } from '../support/db';
import { FakeRedcap, detFixtureFields, redcapFixtureRepeatRows, type FakeRow } from '../support/fake-redcap';
import { eventually } from '../support/processes';
import { releaseStarters } from '../support/releases';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp';
import { connectDevServer, quietTemporalLogs, workflowFailure } from '../support/temporal';
import { startTestWorker, type TestWorker } from '../support/worker';

const CLASSIC_TOKEN = 'C1C2C3C4C5C6C7C8C9C0C1C2C3C4C5C6';
const REPEAT_TOKEN = 'D1D2D3D4D5D6D7D8D9D0D1D2D3D4D5D6';
const EVENTS_TOKEN = 'E1E2E3E4E5E6E7E8E9E0E1E2E3E4E5E6';
const VERSIONED_TOKEN = 'F1F2F3F4F5F6F7F8F9F0F1F2F3F4F5F6';
const API_TOKEN = 'redcap-data-api-token';
const auth = { Authorization: `Bearer ${API_TOKEN}` };
/** Subjects unique to this run: monitor ids (scan-import:<SESSION>) are global on the shared dev server. */
const RUN = randomUUID().replace(/-/g, '').slice(0, 5).toUpperCase();
const subject = (n: number) => `${RUN}${String(n).padStart(2, '0')}`;
const sessionAt = (site: string, n: number, num = 1) =>
  `SPN01_${site}_${subject(n)}_01_${String(num).padStart(2, '0')}`;

let orm: Orm;
let fake: FakeRedcap;
let smtp: TestSmtpServer;
let smtpGate: SmtpGate;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
const workers: TestWorker[] = [];
let config: Config;
/** The service with a short SCAN_CHECK_DELAY, on a task queue of its own: monitors that finish (and email) at once. */
let quickConfig: Config;
let app: ReturnType<ReturnType<typeof createApp>['callback']>;
let quickApp: ReturnType<ReturnType<typeof createApp>['callback']>;
let classic: RedcapConfig;
let repeating: RedcapConfig;
let events: RedcapConfig;
let versioned: RedcapConfig;
const classicRows: FakeRow[] = [];
const monitors = new Set<string>();
/** Every intake run here, for the replay check at the end. */
const intakes = new Set<string>();
const em = () => orm.em.fork() as EntityManager;

/** A record of the classic project as REDCap exports it. */
function classicRow(record: string, session: string, changes: Partial<Record<string, string>> = {}): FakeRow {
  return {
    record_id: record,
    session_id: session,
    scan_date: '2026-11-20',
    comments: 'typo in the comment',
    ra_id: 'ra7',
    mri_scan_log_complete: '2',
    ...changes,
  };
}

/** Puts a classic record in the fake REDCap, or changes it there (as an RA saving the form does). */
function saveInRedcap(row: FakeRow): void {
  const index = classicRows.findIndex((existing) => existing.record_id === row.record_id);
  if (index >= 0) classicRows[index] = row;
  else classicRows.push(row);
}

/** The DET REDCap sends, from the fake server's URL, with REDCap's version in project_url. */
function det(fields: Record<string, string>, version = '14.5.2'): Record<string, string> {
  return {
    ...fields,
    redcap_url: fake.url,
    project_url: `${fake.url}redcap_v${version}/index.php?pid=${fields.project_id}`,
  };
}
const classicDet = (record: string, version?: string) =>
  det({ ...detFixtureFields('det-classic-complete.form'), record }, version);
const repeatDet = (record: string, instance: string, version = '14.6.4') =>
  det({ ...detFixtureFields('det-repeating-instance.form'), record, redcap_repeat_instance: instance }, version);
const eventDet = (record: string, event: string, instance?: string) =>
  det({
    project_id: '4001',
    username: 'jdoe',
    record,
    instrument: 'scan_log',
    redcap_event_name: event,
    ...(instance ? { redcap_repeat_instance: instance } : {}),
    scan_log_complete: '2',
  });

const post = (fields: Record<string, string>, on = app) => request(on).post('/redcap').type('form').send(fields);

async function intake(workflowId: string): Promise<RedcapIntakeResult> {
  intakes.add(workflowId);
  const result = (await temporal.client.workflow.getHandle(workflowId).result()) as RedcapIntakeResult;
  for (const started of [result.monitors?.scanImport, result.monitors?.scanDownload])
    if (started) monitors.add(started.workflowId);
  return result;
}

async function failure(workflowId: string): Promise<WorkflowFailedError> {
  intakes.add(workflowId);
  return workflowFailure(temporal.client, workflowId);
}

const monitorResult = (workflowId: string) => temporal.client.workflow.getHandle(workflowId).result();
const monitorRun = async (workflowId: string) =>
  (await temporal.client.workflow.getHandle(workflowId).describe()).runId;
const mailsAbout = (text: string) =>
  smtp.messages.filter((mail) => mail.subject.includes(text) || mail.text.includes(text));
const redirect = async (recordId: number) =>
  (await request(app).get(`/redcap_redirect/${recordId}`).set(auth).expect(302)).headers.location as string;
const historyOf = async (workflowId: string) =>
  (await temporal.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];

/**
 * A TCP relay in front of the SMTP server that can hold new connections until released: an email that is being
 * sent, for as long as the test wants.
 */
interface SmtpGate {
  url: string;
  /** Connections waiting to be let through. */
  waiting(): number;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

async function startSmtpGate(target: string): Promise<SmtpGate> {
  const { port: targetPort } = new URL(target);
  let held: net.Socket[] | undefined;
  const sockets = new Set<net.Socket>();
  const relay = (client: net.Socket) => {
    const upstream = net.connect(Number(targetPort), '127.0.0.1');
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    if (held) held.push(client);
    else relay(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `smtp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    waiting: () => held?.length ?? 0,
    hold: () => {
      held = [];
    },
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      waiting.forEach(relay);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

beforeAll(async () => {
  quietTemporalLogs();
  ({ orm } = await createTestDatabase());
  fake = await FakeRedcap.start();
  smtp = await startSmtpServer();
  smtpGate = await startSmtpGate(smtp.url);
  temporal = await connectDevServer();

  const scripts = fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-data-jobs-'));
  fs.writeFileSync(path.join(scripts, 'download.sh'), 'exit 0\n');
  const env = {
    SMTP_URL: smtpGate.url,
    API_TOKEN,
    SUBMIT_SCRIPTS: scripts,
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-data-')),
  };
  config = loadConfig({ ...env, TEMPORAL_TASK_QUEUE: `redcap-data-${RUN}` });
  quickConfig = loadConfig({ ...env, TEMPORAL_TASK_QUEUE: `redcap-data-quick-${RUN}`, SCAN_CHECK_DELAY: '1s' });

  const seed = em();
  const study = seed.create(Study, { id: 'SPN01', name: 'Social Processes Network' });
  seed.create(StudySite, {
    study,
    site: seed.create(Site, { id: 'CMH' }),
    code: 'SPN01',
    usesRedcap: true,
    downloadScript: 'download.sh',
  });
  seed.create(StudySite, { study, site: seed.create(Site, { id: 'ZHH' }), code: 'SPN01', usesRedcap: true });
  seed.create(User, { name: 'Ada Admin', email: 'ada@example.org', admin: true });
  const fields = {
    url: fake.url,
    version: '14.5.2',
    sessionField: 'session_id',
    dateField: 'scan_date',
    commentField: 'comments',
    completedValue: '2',
  };
  classic = seed.create(RedcapConfig, {
    ...fields,
    project: 1234,
    instrument: 'mri_scan_log',
    token: CLASSIC_TOKEN,
    userField: 'ra_id',
    completedField: 'mri_scan_log_complete',
  });
  repeating = seed.create(RedcapConfig, {
    ...fields,
    project: 3001,
    instrument: 'mri_scan_log',
    token: REPEAT_TOKEN,
    userField: 'ra_id',
    completedField: 'mri_scan_log_complete',
  });
  events = seed.create(RedcapConfig, {
    ...fields,
    project: 4001,
    instrument: 'scan_log',
    token: EVENTS_TOKEN,
    completedField: 'scan_log_complete',
  });
  versioned = seed.create(RedcapConfig, {
    ...fields,
    project: 5001,
    instrument: 'visit',
    token: VERSIONED_TOKEN,
    completedField: 'visit_complete',
  });
  await seed.flush();

  fake.addProject({ token: CLASSIC_TOKEN, records: classicRows });
  fake.addProject({
    token: VERSIONED_TOKEN,
    records: [
      { record_id: 'v1', session_id: sessionAt('ZHH', 30), scan_date: '2026-11-01', comments: '', visit_complete: '2' },
    ],
  });
  // The repeating project of the fixtures, with this run's subjects.
  const repeatRows = redcapFixtureRepeatRows('export-repeating.json').map((row) => ({
    ...row,
    session_id: String(row.session_id).replace('0331', subject(1)).replace('0007', subject(2)),
  }));
  fake.addProject({ token: REPEAT_TOKEN, records: repeatRows });
  // A longitudinal project whose scan event repeats as a whole; another form repeats inside it.
  const event = (instance: number | '', instrument: string, session: string, date: string, comments = ''): FakeRow => ({
    record_id: '5',
    redcap_event_name: instance === '' ? 'baseline_arm_1' : 'scan_arm_1',
    redcap_repeat_instrument: instrument,
    redcap_repeat_instance: instance,
    session_id: session,
    scan_date: date,
    comments,
    scan_log_complete: session ? '2' : '',
  });
  fake.addProject({
    token: EVENTS_TOKEN,
    records: [
      event('', '', sessionAt('CMH', 3), '2026-01-05'),
      event(1, '', `SPN01_CMH_${subject(3)}_02_01`, '2026-06-05'),
      event(2, '', `SPN01_CMH_${subject(3)}_03_01`, '2026-11-05', 'third scan'),
      event(2, 'medications', '', ''),
    ],
    events: { baseline_arm_1: 51, scan_arm_1: 52 },
  });

  const logger = pino({ level: 'silent' });
  for (const each of [config, quickConfig])
    workers.push(await startTestWorker({ config: each, orm, server: temporal, logger }));
  app = createApp({ config, orm, temporal: temporal.client, logger }).callback();
  quickApp = createApp({ config: quickConfig, orm, temporal: temporal.client, logger }).callback();
});

afterAll(async () => {
  for (const workflowId of monitors) {
    await temporal.client.workflow
      .getHandle(workflowId)
      .terminate('redcap-data test done')
      .catch(() => undefined);
  }
  await Promise.all(workers.map((worker) => worker.stop()));
  await temporal?.close();
  await smtpGate?.close();
  await smtp?.close();
  await fake?.close();
  await orm?.close();
});

afterEach(() => {
  fake.heal();
  smtpGate.release();
});

describe('repeating instruments and events', () => {
  test('each instance of a repeating instrument is its own intake, filed from its own row with its own session; the link opens it', async () => {
    const res = await post(det(detFixtureFields('det-repeating-instance.form'), '14.6.4')).expect(202);
    const workflowId = redcapIntakeWorkflowId(repeating.id, '331-2', null, 2);
    expect(res.body).toEqual({ status: 'accepted', workflowId });
    expect(workflowId).toBe(`redcap-intake:${repeating.id}:331-2#2`);

    const second = await intake(workflowId);
    expect(second).toMatchObject({ sessionId: sessionAt('CMH', 1, 2), change: 'created', reads: 1 });
    const record = await em().findOneOrFail(RedcapRecord, second.redcapRecordId);
    expect(record).toMatchObject({
      record: '331-2',
      eventName: '',
      repeatInstance: 2,
      entryDate: '2026-11-16',
      comment: 'Repeat of the resting state: motion in run 1',
      user: '17',
    });
    expect(fake.callsFor('record', '331-2')).toHaveLength(1);

    // Instance 1 of the same record: another intake, another stored record, another session.
    const first = await intake((await post(repeatDet('331-2', '1')).expect(202)).body.workflowId);
    expect(first.sessionId).toBe(sessionAt('CMH', 1, 1));
    expect(first.redcapRecordId).not.toBe(second.redcapRecordId);
    expect(await em().count(RedcapRecord, { config: repeating.id, record: '331-2' })).toBe(2);

    // The link opens the instance, on the REDCap version the trigger came from (the config says 14.5.2).
    expect(await redirect(second.redcapRecordId)).toBe(
      `${fake.url}redcap_v14.6.4/DataEntry/index.php?pid=3001&id=331-2&page=mri_scan_log&instance=2`,
    );
    const view = await request(app).get(`/sessions/${second.sessionId}`).set(auth).expect(200);
    expect(view.body.redcapRecord).toMatchObject({
      record: '331-2',
      instance: 2,
      event: null,
      redirect: `/redcap_redirect/${second.redcapRecordId}`,
    });
    expect(view.body.redcapRecord.url).toMatch(/&instance=2$/);
    expect(view.body.monitorsStartedAt).toEqual(expect.any(String));
  });

  test('record names are text (a survey respondent saved "Zoë 7"): filed and linked exactly as sent', async () => {
    const res = await post(repeatDet('Zoë 7', '1')).expect(202);
    expect(res.body.workflowId).toBe(`redcap-intake:${repeating.id}:Zoë 7#1`);
    const result = await intake(res.body.workflowId);
    expect(result.sessionId).toBe(sessionAt('ZHH', 2));
    expect(await em().findOneOrFail(RedcapRecord, result.redcapRecordId)).toMatchObject({
      record: 'Zoë 7',
      repeatInstance: 1,
    });
    expect(await redirect(result.redcapRecordId)).toBe(
      `${fake.url}redcap_v14.6.4/DataEntry/index.php?pid=3001&id=Zo%C3%AB+7&page=mri_scan_log&instance=1`,
    );
  });

  test('a repeating event: the row of the event and instance (not another form repeating there), its event_id and instance in the link', async () => {
    const res = await post(eventDet('5', 'scan_arm_1', '2')).expect(202);
    expect(res.body.workflowId).toBe(`redcap-intake:${events.id}:5:scan_arm_1#2`);
    const result = await intake(res.body.workflowId);
    expect(result.sessionId).toBe(`SPN01_CMH_${subject(3)}_03_01`);
    expect(await em().findOneOrFail(RedcapRecord, result.redcapRecordId)).toMatchObject({
      eventName: 'scan_arm_1',
      eventId: 52,
      repeatInstance: 2,
      comment: 'third scan',
    });
    expect(await redirect(result.redcapRecordId)).toBe(
      `${fake.url}redcap_v14.5.2/DataEntry/index.php?pid=4001&id=5&event_id=52&page=scan_log&instance=2`,
    );
  });

  test('an export with no row for the instance: the intake fails, one email naming record, event and instance', async () => {
    const res = await post(eventDet('5', 'scan_arm_1', '3')).expect(202);
    const err = await failure(res.body.workflowId);
    expect(err.cause).toMatchObject({
      type: 'RedcapRecordNotFound',
      message: 'REDCap has no record 5 (event scan_arm_1, instance 3) of REDCap project 4001',
    });
    await eventually(() => mailsAbout('instance 3').length > 0, 'the email');
    const mails = mailsAbout('record 5 (event scan_arm_1, instance 3)');
    expect(mails.map((mail) => mail.subject)).toEqual([
      'REDCap record 5 (event scan_arm_1, instance 3) could not be filed',
    ]);
    expect(await em().count(RedcapRecord, { config: events.id, repeatInstance: 3 })).toBe(0);
  });

  test('a trigger whose instance is not a positive whole number: 400 naming the key; nothing starts', async () => {
    for (const instance of ['0', '-2', '1.5', 'two']) {
      const res = await post(repeatDet('331-2', instance)).expect(400);
      expect(res.body.error).toMatch(/redcap_repeat_instance must be a positive whole number/);
      expect(res.body.invalid).toEqual(['redcap_repeat_instance']);
    }
  });
});

describe('re-saved forms', () => {
  test('a corrected comment, date and user after the intake finished: the same id runs again, the record follows REDCap, no new monitor', async () => {
    const sessionId = sessionAt('CMH', 10);
    saveInRedcap(classicRow('r10', sessionId));
    const first = await intake((await post(classicDet('r10')).expect(202)).body.workflowId);
    expect(first).toMatchObject({ sessionId, change: 'created' });
    const importRun = await monitorRun(`scan-import:${sessionId}`);

    saveInRedcap(
      classicRow('r10', sessionId.toLowerCase(), { comments: 'Fieldmap repeated', scan_date: '2026-11-21', ra_id: '' }),
    );
    const res = await post(classicDet('r10')).expect(202);
    const again = await intake(res.body.workflowId);
    expect(again).toEqual({
      sessionId,
      redcapRecordId: first.redcapRecordId,
      sessionCreated: false,
      change: 'updated',
      monitors: null,
      reads: 1,
    });
    expect(await em().findOneOrFail(RedcapRecord, first.redcapRecordId)).toMatchObject({
      comment: 'Fieldmap repeated',
      entryDate: '2026-11-21',
      user: null,
      sessionName: sessionId.toLowerCase(),
    });
    expect(await em().count(RedcapRecord, { config: classic.id, record: 'r10' })).toBe(1);
    const view = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
    expect(view.body).toMatchObject({
      date: '2026-11-21',
      redcapRecord: { comment: 'Fieldmap repeated', entryDate: '2026-11-21', user: null },
    });
    expect(await monitorRun(`scan-import:${sessionId}`)).toBe(importRun);
  });

  test("a corrected session id moves the record: the new session gets it and its monitors, the old one's are cancelled", async () => {
    const [oldSession, newSession] = [sessionAt('CMH', 11), sessionAt('CMH', 12)];
    saveInRedcap(classicRow('r11', oldSession));
    const first = await intake((await post(classicDet('r11')).expect(202)).body.workflowId);
    expect(first.monitors?.scanDownload).toBeDefined();

    saveInRedcap(classicRow('r11', newSession));
    const moved = await intake((await post(classicDet('r11')).expect(202)).body.workflowId);
    expect(moved).toMatchObject({
      sessionId: newSession,
      redcapRecordId: first.redcapRecordId,
      change: 'moved',
      movedFrom: oldSession,
      sessionCreated: true,
    });
    expect(moved.monitors?.scanImport.workflowId).toBe(`scan-import:${newSession}`);

    const reason = `record moved to ${newSession}`;
    expect(await monitorResult(`scan-import:${oldSession}`)).toEqual({ outcome: 'cancelled', cancelReason: reason });
    expect(await monitorResult(`scan-download:${oldSession}`)).toMatchObject({
      outcome: 'cancelled',
      cancelReason: reason,
    });
    expect((await temporal.client.workflow.getHandle(`scan-import:${newSession}`).describe()).status.name).toBe(
      'RUNNING',
    );
    const old = await request(app).get(`/sessions/${oldSession}`).set(auth).expect(200);
    expect(old.body).toMatchObject({ redcapRecord: null, monitorsStartedAt: null });
    expect((await findSession(em(), newSession)).redcap?.record?.id).toBe(first.redcapRecordId);
    expect(mailsAbout(oldSession)).toEqual([]);
  });

  test('a re-save racing a running intake (REDCap slow): the end state follows the latest save, one record, monitors right', async () => {
    const [typoSession, rightSession] = [sessionAt('CMH', 13), sessionAt('CMH', 14)];
    saveInRedcap(classicRow('r13', typoSession));
    const release = fake.hold();
    const res = await post(classicDet('r13')).expect(202);
    await eventually(() => fake.callsFor('record', 'r13').length === 1, 'the first read');
    const { runId } = await temporal.client.workflow.getHandle(res.body.workflowId).describe();

    // The RA fixes the session id and the comment and saves again while REDCap is still answering the first read.
    saveInRedcap(classicRow('r13', rightSession, { comments: 'session id corrected' }));
    const again = await post(classicDet('r13')).expect(202);
    expect(again.body.workflowId).toBe(res.body.workflowId);
    expect((await temporal.client.workflow.getHandle(res.body.workflowId).describe()).runId).toBe(runId); // joined
    release();

    const result = await intake(res.body.workflowId);
    expect(result).toMatchObject({ sessionId: rightSession, change: 'moved', movedFrom: typoSession, reads: 2 });
    expect(fake.callsFor('record', 'r13')).toHaveLength(2);
    const stored = await em().find(RedcapRecord, { config: classic.id, record: 'r13' });
    expect(stored).toEqual([
      expect.objectContaining({
        id: result.redcapRecordId,
        comment: 'session id corrected',
        sessionName: rightSession,
      }),
    ]);
    expect((await findSession(em(), rightSession)).redcap?.record?.id).toBe(result.redcapRecordId);
    expect((await findSession(em(), typoSession)).redcap).toBeNull();
    monitors.add(`scan-import:${typoSession}`).add(`scan-download:${typoSession}`);
    expect(await monitorResult(`scan-import:${typoSession}`)).toEqual({
      outcome: 'cancelled',
      cancelReason: `record moved to ${rightSession}`,
    });
    expect((await temporal.client.workflow.getHandle(`scan-import:${rightSession}`).describe()).status.name).toBe(
      'RUNNING',
    );
  });

  test('a corrected comment racing a running intake: read again, filed once, the monitors started once', async () => {
    const sessionId = sessionAt('CMH', 15);
    saveInRedcap(classicRow('r15', sessionId));
    const release = fake.hold();
    const res = await post(classicDet('r15')).expect(202);
    await eventually(() => fake.callsFor('record', 'r15').length === 1, 'the first read');
    saveInRedcap(classicRow('r15', sessionId, { comments: 'comment corrected' }));
    await post(classicDet('r15')).expect(202);
    release();

    const result = await intake(res.body.workflowId);
    expect(result).toMatchObject({
      sessionId,
      change: 'updated',
      reads: 2,
      monitors: { scanImport: { workflowId: `scan-import:${sessionId}` } },
    });
    expect(await em().find(RedcapRecord, { config: classic.id, record: 'r15' })).toEqual([
      expect.objectContaining({ comment: 'comment corrected' }),
    ]);
    const intakeHistory = await historyOf(res.body.workflowId);
    const started = intakeHistory.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startMonitors',
    );
    expect(started).toHaveLength(1);
  });

  test("a session's monitors run once: after they finished (the email sent), a re-save starts none, and no second email", async () => {
    const sessionId = sessionAt('ZHH', 16);
    saveInRedcap(classicRow('r16', sessionId));
    const first = await intake((await post(classicDet('r16', '14.7.0'), quickApp).expect(202)).body.workflowId);
    expect(first.monitors?.scanDownload).toBeUndefined();
    expect(await monitorResult(`scan-import:${sessionId}`)).toEqual({ outcome: 'email-sent' });
    const importRun = await monitorRun(`scan-import:${sessionId}`);
    expect(mailsAbout(`No scan data received for ${sessionId}`)).toHaveLength(1);
    // The email links the record on the REDCap version of the latest trigger.
    expect(mailsAbout(`No scan data received for ${sessionId}`)[0].text).toContain(
      `redcap_v14.7.0/DataEntry/index.php?pid=1234&id=r16`,
    );

    saveInRedcap(classicRow('r16', sessionId, { comments: 'no scans: scanner down' }));
    const again = await intake((await post(classicDet('r16', '14.7.0'), quickApp).expect(202)).body.workflowId);
    expect(again).toMatchObject({ sessionId, change: 'updated', monitors: null });
    expect(await monitorRun(`scan-import:${sessionId}`)).toBe(importRun);
    expect(mailsAbout(`No scan data received for ${sessionId}`)).toHaveLength(1);
  });
});

describe('record names that hold ":", "#" or "%" (their parts are encoded in the intake id)', () => {
  const instanceDet = (record: string, instance: string) =>
    det({
      ...detFixtureFields('det-classic-complete.form'),
      record,
      redcap_repeat_instrument: 'mri_scan_log',
      redcap_repeat_instance: instance,
    });
  const eventDetOf = (record: string, event: string) =>
    det({ ...detFixtureFields('det-classic-complete.form'), record, redcap_event_name: event });

  test('`K#2` and `K` instance 2, `Q:b` and `Q` in event b, `P%3Ab` and `P:b`: each trigger its own intake and record', async () => {
    const rows: Array<[FakeRow, Record<string, string>, string]> = [
      [classicRow('K#2', sessionAt('CMH', 40)), classicDet('K#2'), `redcap-intake:${classic.id}:K%232`],
      [
        {
          ...classicRow('K', sessionAt('CMH', 41)),
          redcap_repeat_instrument: 'mri_scan_log',
          redcap_repeat_instance: 2,
        },
        instanceDet('K', '2'),
        `redcap-intake:${classic.id}:K#2`,
      ],
      [classicRow('Q:b', sessionAt('CMH', 42)), classicDet('Q:b'), `redcap-intake:${classic.id}:Q%3Ab`],
      [
        { ...classicRow('Q', sessionAt('CMH', 43)), redcap_event_name: 'b' },
        eventDetOf('Q', 'b'),
        `redcap-intake:${classic.id}:Q:b`,
      ],
      [classicRow('P%3Ab', sessionAt('CMH', 44)), classicDet('P%3Ab'), `redcap-intake:${classic.id}:P%253Ab`],
      [classicRow('P:b', sessionAt('CMH', 45)), classicDet('P:b'), `redcap-intake:${classic.id}:P%3Ab`],
    ];
    for (const [row] of rows) classicRows.push(row);
    const ids = [];
    for (const [, trigger, workflowId] of rows) {
      const res = await post(trigger).expect(202);
      expect(res.body.workflowId).toBe(workflowId);
      ids.push(res.body.workflowId as string);
    }
    const results = await Promise.all(ids.map(intake));
    expect(results.map((result) => result.sessionId)).toEqual([40, 41, 42, 43, 44, 45].map((n) => sessionAt('CMH', n)));
    expect(new Set(results.map((result) => result.redcapRecordId)).size).toBe(rows.length);
    for (const result of results) expect(result.reads).toBe(1);
  });

  test('an intake started before 0.3.0 under the old id is joined by a re-save of its record, not by the record its old id reads like', async () => {
    saveInRedcap(classicRow('L#3', sessionAt('CMH', 46)));
    classicRows.push({
      ...classicRow('L', sessionAt('CMH', 47)),
      redcap_repeat_instrument: 'mri_scan_log',
      redcap_repeat_instance: 3,
    });
    const release = fake.hold();
    // As 0.2.0 started it: the parts as sent, `redcap-intake:<config>:L#3`, which is also the id of `L` instance 3 today.
    const { startReleaseIntake } = releaseStarters('0.2.0');
    const legacy = await startReleaseIntake(
      temporal.client,
      config.taskQueue,
      { configId: classic.id, record: 'L#3' },
      {
        redcapUrl: fake.url,
        project: 1234,
        instrument: 'mri_scan_log',
      },
    );
    expect(legacy.workflowId).toBe(`redcap-intake:${classic.id}:L#3`);
    await eventually(() => fake.callsFor('record', 'L#3').length === 1, 'the old intake to be reading REDCap');

    expect(await findRedcapIntake(temporal.client, { configId: classic.id, record: 'L#3' })).toMatchObject({
      workflowId: legacy.workflowId,
    });
    expect(await findRedcapIntake(temporal.client, { configId: classic.id, record: 'L', instance: 3 })).toBeUndefined();
    // The RA saves L#3 again: the running intake is joined (and reads again), no second one starts.
    const resaved = await post(classicDet('L#3')).expect(202);
    expect(resaved.body.workflowId).toBe(legacy.workflowId);
    await expect(temporal.client.workflow.getHandle(`redcap-intake:${classic.id}:L%233`).describe()).rejects.toThrow(
      WorkflowNotFoundError,
    );
    release();
    const result = await intake(legacy.workflowId);
    expect(result).toMatchObject({ sessionId: sessionAt('CMH', 46), reads: 2 });
    expect((await temporal.client.workflow.getHandle(legacy.workflowId).describe()).runId).toBe(legacy.runId);

    // Once it has ended, the next trigger of L#3 runs under today's id; L instance 3 gets the id it reads like.
    const next = await post(classicDet('L#3')).expect(202);
    expect(next.body.workflowId).toBe(`redcap-intake:${classic.id}:L%233`);
    expect((await intake(next.body.workflowId)).change).toBe('unchanged');
    const other = await intake((await post(instanceDet('L', '3')).expect(202)).body.workflowId);
    expect(other.sessionId).toBe(sessionAt('CMH', 47));
  });
});

describe('the REDCap version of the latest trigger', () => {
  test('links use the configured version until a trigger whose record REDCap gave came, then its version; written only when it changed', async () => {
    const xmin = async () =>
      (
        await orm.em.getConnection().execute(`select xmin::text as x from redcap_config where id = ?`, [versioned.id])
      )[0].x as string;
    const seeded = em();
    const record = seeded.create(RedcapRecord, {
      config: seeded.getReference(RedcapConfig, versioned.id),
      record: 'v1',
      entryDate: '2026-11-01',
      sessionName: 'x',
    });
    await seeded.flush();
    expect(await em().findOneOrFail(RedcapConfig, versioned.id)).toMatchObject({ version: '14.5.2', detVersion: null });
    expect(await redirect(record.id)).toBe(`${fake.url}redcap_v14.5.2/DataEntry/index.php?pid=5001&id=v1&page=visit`);
    const visit = (name: string, version: string, complete = '2') =>
      det({ project_id: '5001', instrument: 'visit', record: name, visit_complete: complete }, version);

    // An incomplete form's trigger reads nothing, so it tells nothing either.
    expect((await post(visit('v1', '15.0.1', '0')).expect(200)).body.status).toBe('ignored');
    // A forged trigger (anyone can send one without DET_SECRET) names a record REDCap does not have: no version.
    const forged = await post(visit('forged-1', '99.9.9')).expect(202);
    expect((await failure(forged.body.workflowId)).cause).toMatchObject({ type: 'RedcapRecordNotFound' });
    expect(await em().findOneOrFail(RedcapConfig, versioned.id)).toMatchObject({ detVersion: null });
    expect(await redirect(record.id)).toContain('/redcap_v14.5.2/');

    // REDCap answered for the record with the lab's token: its version is noted, once.
    const filed = await intake((await post(visit('v1', '15.0.1')).expect(202)).body.workflowId);
    expect(filed.redcapRecordId).toBe(record.id);
    expect(await redirect(record.id)).toContain('/redcap_v15.0.1/');
    const written = await xmin();
    const again = (await post(visit('v1', '15.0.1')).expect(202)).body.workflowId;
    await intake(again);
    expect(await xmin()).toBe(written);
    // The version travels in the intake's input only when it is news.
    const [started] = await historyOf(again);
    expect(JSON.stringify(started.workflowExecutionStartedEventAttributes?.input)).not.toContain('redcapVersion');
    await intake((await post(visit('v1', '15.0.2')).expect(202)).body.workflowId);
    expect(await xmin()).not.toBe(written);
    expect(await redirect(record.id)).toContain('/redcap_v15.0.2/');
  });
});

describe('cancelled intakes', () => {
  test('an intake cancelled while it reads REDCap ends Cancelled, without email', async () => {
    saveInRedcap(classicRow('r20', sessionAt('CMH', 20)));
    const release = fake.hold();
    const res = await post(classicDet('r20')).expect(202);
    await eventually(() => fake.callsFor('record', 'r20').length === 1, 'the read');
    await temporal.client.workflow.getHandle(res.body.workflowId).cancel();
    const err = await failure(res.body.workflowId);
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    expect((await temporal.client.workflow.getHandle(res.body.workflowId).describe()).status.name).toBe('CANCELLED');
    release();
    expect(mailsAbout('record r20')).toEqual([]);
    expect(await em().count(RedcapRecord, { record: 'r20' })).toBe(0);
  });

  test("a failed intake's email is sent even when the intake is cancelled while it sends it", async () => {
    saveInRedcap(classicRow('r21', 'SPN01_CMH_FBNPHA_0013'));
    smtpGate.hold();
    const res = await post(classicDet('r21')).expect(202);
    await eventually(() => smtpGate.waiting() > 0, 'the email to be on its way');
    await temporal.client.workflow.getHandle(res.body.workflowId).cancel();
    smtpGate.release();

    const err = await failure(res.body.workflowId);
    expect(err.cause).toMatchObject({
      type: 'InvalidSessionIdError',
      message: `REDCap record r21 (config ${classic.id}): the session id in "session_id" fits no session id convention`,
    });
    expect(mailsAbout('record r21')).toHaveLength(1); // the workflow waited for it
    expect(mailsAbout('record r21')[0].text).toContain(
      'Invalid session id "SPN01_CMH_FBNPHA_0013": subject FBNPHA ends in PHA',
    );
    const events = await historyOf(res.body.workflowId);
    expect(events.some((e) => e.workflowExecutionCancelRequestedEventAttributes)).toBe(true);
    expect(events.some((e) => e.activityTaskCancelRequestedEventAttributes)).toBe(false);
  });
});

test('the histories of these intakes (re-reads, moves, patches, cancels) replay without nondeterminism', async () => {
  expect(intakes.size).toBeGreaterThan(10);
  const histories = await Promise.all(
    [...intakes].map(async (workflowId) => ({
      workflowId,
      history: await temporal.client.workflow.getHandle(workflowId).fetchHistory(),
    })),
  );
  const results: Array<[string, string]> = [];
  for await (const result of Worker.runReplayHistories(
    { workflowsPath: require.resolve('../../workflows') },
    histories,
  )) {
    results.push([result.workflowId, result.error ? `${result.error.name}: ${result.error.message}` : 'ok']);
  }
  expect(results).toEqual(histories.map(({ workflowId }) => [workflowId, 'ok']));
});
