/**
 * The state of a session through every path that changes it, as GET /sessions and GET /studies/:id/outstanding show
 * it: an intake (started by a pull), the no-scans email, a download attempt, a scan, a cancel and its undo, a
 * dismissal and its undo, a record moved, a failed intake and its repair. Real PostgreSQL, the suite's Temporal dev
 * server with a worker running the real activities, a real SMTP server, a fake REDCap on loopback.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import request from 'supertest';
import { createApp } from '../../src/app';
import { RedcapConfig } from '../../src/db/entities';
import { findOrCreateSession } from '../../src/sessions/domain';
import { refreshSessionStates } from '../../src/lab-data/state';
import { redcapIntakeWorkflowId, statusQuery, type RedcapIntakeResult } from '../../surface';
import { FakeRedcap } from '../support/fake-redcap';
import { uniqueSessionId } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { eventually, runCli } from '../support/processes';
import { connectDevServer, devServerAddress, quietTemporalLogs } from '../support/temporal';

const TOKEN = 'lab-states-token';
const REDCAP_TOKEN = 'C0FFEE00C0FFEE00C0FFEE00C0FFEE00';
const auth = { Authorization: `Bearer ${TOKEN}` };
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let lab: MonitorHarness;
let fake: FakeRedcap;
let redcap: RedcapConfig;
let app: ReturnType<ReturnType<typeof createApp>['callback']>;
let serial = 0;
const em = () => lab.orm.em.fork() as EntityManager;

beforeAll(async () => {
  quietTemporalLogs();
  temporal = await connectDevServer();
  // The no-scans email comes after 8 s; a download attempt waits an hour before its next try.
  lab = await startMonitorHarness(temporal, {
    env: {
      API_TOKEN: TOKEN,
      SCAN_CHECK_DELAY: '8 seconds',
      DOWNLOAD_RETRY_INITIAL: '1 hour',
      DOWNLOAD_RETRY_MAX: '1 hour',
    },
  });
  fake = await FakeRedcap.start();
  fake.addProject({ token: REDCAP_TOKEN, records: [] });
  const seed = em();
  redcap = seed.create(RedcapConfig, {
    url: fake.url,
    project: 5678,
    instrument: 'mri_scan_log',
    version: '14.5.2',
    token: REDCAP_TOKEN,
    sessionField: 'session_id',
    dateField: 'scan_date',
    commentField: 'comments',
    completedField: 'mri_scan_log_complete',
    completedValue: '2',
  });
  await seed.flush();
  app = createApp({ config: lab.config, orm: lab.orm, temporal: temporal.client }).callback();
});

afterAll(async () => {
  for await (const execution of temporal.client.workflow.list({
    query: `TaskQueue="${lab.config.taskQueue}" AND ExecutionStatus="Running"`,
  })) {
    await temporal.client.workflow
      .getHandle(execution.workflowId)
      .terminate('lab states test done')
      .catch(() => undefined);
  }
  await lab?.close();
  await fake?.close();
  await temporal?.close();
});

/** A REDCap row of the fake project: record `record` logs session `sessionId`. */
function saveRow(record: string, sessionId: string) {
  fake.saveRow(REDCAP_TOKEN, {
    record_id: record,
    session_id: sessionId,
    scan_date: '2026-11-20',
    comments: 'scanned',
    mri_scan_log_complete: '2',
  });
}

/** Pulls a record (POST …/pull, the intake its trigger would have started) and waits for the intake to end. */
async function pull(record: string): Promise<RedcapIntakeResult | Error> {
  const res = await request(app).post(`/redcap/configs/${redcap.id}/records/${record}/pull`).set(auth).send({});
  expect(res.status).toBe(202);
  expect(res.body.workflowId).toBe(redcapIntakeWorkflowId(redcap.id, record));
  return temporal.client.workflow
    .getHandle(res.body.workflowId)
    .result()
    .then(
      (result) => result as RedcapIntakeResult,
      (err: Error) => err,
    );
}

/** A new session logged in REDCap and filed by a pull. */
async function filedSession(site: 'CMH' | 'ZHH') {
  serial += 1;
  const sessionId = uniqueSessionId(site, serial);
  const record = `R${serial}`;
  saveRow(record, sessionId);
  const result = await pull(record);
  expect(result).toMatchObject({ sessionId });
  return { sessionId, record };
}

/** The session's row in GET /sessions (found by its study and site, newest first). */
async function rowOf(sessionId: string) {
  const res = await request(app).get('/sessions').query({ study: 'SPN01', limit: 500 }).set(auth).expect(200);
  return (res.body.sessions as Array<Record<string, unknown>>).find((row) => row.sessionId === sessionId);
}
const stateOf = async (sessionId: string) => (await rowOf(sessionId))?.state;
const outstanding = async () =>
  (await request(app).get('/studies/SPN01/outstanding').set(auth).expect(200)).body as {
    items: Array<Record<string, unknown>>;
  };

async function addScan(sessionId: string, name = `${sessionId}_T1`) {
  await request(app).post(`/sessions/${sessionId}/scans`).set(auth).send({ name, series: 1, tag: 'T1' }).expect(201);
}

test('intake → waiting; the no-scans email → missing-scans, outstanding since it; a scan → scans-present', async () => {
  const { sessionId, record } = await filedSession('ZHH');
  expect(await rowOf(sessionId)).toEqual({
    sessionId,
    studyId: 'SPN01',
    siteId: 'ZHH',
    date: '2026-11-20',
    state: 'waiting',
    outstandingSince: null,
    record: `${fake.url}redcap_v14.5.2/DataEntry/index.php?pid=5678&id=${record}&page=mri_scan_log`,
    redcapRecordId: expect.any(Number),
  });

  await eventually(async () => (await stateOf(sessionId)) === 'missing-scans', 'the no-scans email', 60_000);
  expect(lab.smtp.messages.filter((mail) => mail.subject.includes(sessionId))).toHaveLength(1);
  const row = (await rowOf(sessionId))!;
  const [sent] = await em()
    .getConnection()
    .execute(`select sent_at from sent_email where session_id = ? and kind = 'no-scans'`, [sessionId]);
  expect(row.outstandingSince).toBe(new Date(sent.sent_at).toISOString());
  const item = (await outstanding()).items.find((i) => i.sessionId === sessionId);
  expect(item).toMatchObject({ kind: 'missing-scans', siteId: 'ZHH', date: '2026-11-20', recordName: record });

  await addScan(sessionId);
  expect(await rowOf(sessionId)).toMatchObject({ state: 'scans-present', outstandingSince: null });
  expect((await outstanding()).items.some((i) => i.sessionId === sessionId)).toBe(false);
  // GET /sessions/:id says the same.
  const one = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
  expect(one.body).toMatchObject({ state: 'scans-present', outstandingSince: null, dismissals: [] });
});

test('a download attempt → downloading (at CMH, whose download script runs at once)', async () => {
  const { sessionId } = await filedSession('CMH');
  await eventually(() => lab.jobRuns('download', sessionId) >= 1, 'the first download attempt');
  await eventually(async () => (await stateOf(sessionId)) === 'downloading', 'the state to say downloading');
  await eventually(async () => (await stateOf(sessionId)) === 'missing-scans', 'the no-scans email', 60_000);
});

test('a cancel → no-scans-expected; its undo → waiting again, monitors started again', async () => {
  const { sessionId } = await filedSession('ZHH');
  await request(app).post(`/sessions/${sessionId}/monitors/cancel`).set(auth).send({ reason: 'withdrew' }).expect(200);
  expect(await stateOf(sessionId)).toBe('no-scans-expected');
  await request(app).delete(`/sessions/${sessionId}/monitors/cancel`).set(auth).expect(200);
  expect(await stateOf(sessionId)).toBe('waiting');
});

describe('dismissals', () => {
  test('no-scans-expected: ends the monitors without email, is shown with who, when and why; its undo starts them again', async () => {
    const { sessionId } = await filedSession('CMH');
    const before = Date.now();
    const res = await request(app)
      .post(`/sessions/${sessionId}/dismissals`)
      .set(auth)
      .send({ kind: 'no-scans-expected', comment: 'Participant withdrew before the scan' })
      .expect(201);
    const dismissal = { kind: 'no-scans-expected', comment: 'Participant withdrew before the scan', by: 'API_TOKEN' };
    expect(res.body).toMatchObject({ sessionId, created: true, dismissal });
    expect(Date.parse(res.body.dismissal.at)).toBeGreaterThanOrEqual(before - 1_000);
    expect(res.body.monitors.signalled.map((m: { monitor: string }) => m.monitor).sort()).toEqual([
      'scan-download',
      'scan-import',
    ]);
    const monitors = ['scan-import', 'scan-download'].map((m) =>
      temporal.client.workflow.getHandle(`${m}:${sessionId}`),
    );
    for (const handle of monitors) expect(await handle.result()).toMatchObject({ outcome: 'cancelled' });
    expect(await stateOf(sessionId)).toBe('no-scans-expected');
    const shown = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
    expect(shown.body).toMatchObject({ state: 'no-scans-expected', dismissals: [res.body.dismissal] });
    // The comment stays out of the monitors' histories: their cancel carries a fixed reason.
    expect(shown.body.monitors[0].cancelReason).toBe('dismissed: no scans expected');

    // Again: the first one stands.
    const again = await request(app)
      .post(`/sessions/${sessionId}/dismissals`)
      .set(auth)
      .send({ kind: 'no-scans-expected', comment: 'another reason' })
      .expect(200);
    expect(again.body).toMatchObject({ created: false, dismissal: res.body.dismissal });

    const undo = await request(app).delete(`/sessions/${sessionId}/dismissals/no-scans-expected`).set(auth).expect(200);
    expect(undo.body).toMatchObject({
      sessionId,
      undone: res.body.dismissal,
      monitors: { scanImport: {}, scanDownload: {} },
    });
    for (const handle of monitors) expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(await monitors[0].query(statusQuery)).toMatchObject({ state: expect.stringMatching(/waiting|checking/) });
    expect((await request(app).get(`/sessions/${sessionId}`).set(auth)).body).toMatchObject({
      dismissals: [],
      monitorsCancelled: null,
    });
    expect(['waiting', 'downloading']).toContain(await stateOf(sessionId));
    const none = await request(app).delete(`/sessions/${sessionId}/dismissals/no-scans-expected`).set(auth).expect(409);
    expect(none.body.error).toBe(`Session ${sessionId} has no no-scans-expected dismissal; nothing to undo`);
    expect(lab.smtp.messages.filter((mail) => mail.subject.includes(sessionId))).toHaveLength(0);
  });

  test('no-redcap-expected: a session with scans and no REDCap record leaves the outstanding work, and comes back on undo', async () => {
    serial += 1;
    const sessionId = uniqueSessionId('CMH', serial);
    await findOrCreateSession(em(), sessionId, '2026-11-21'); // e.g. found in XNAT
    await refreshSessionStates(em(), [sessionId]);
    expect(await rowOf(sessionId)).toMatchObject({ state: 'no-redcap-record', outstandingSince: null, record: null });
    await addScan(sessionId);
    const row = (await rowOf(sessionId))!;
    expect(row).toMatchObject({ state: 'no-redcap-record', outstandingSince: expect.any(String) });
    expect((await outstanding()).items.find((i) => i.sessionId === sessionId)).toMatchObject({
      kind: 'no-redcap-record',
      since: row.outstandingSince,
    });

    const res = await request(app)
      .post(`/sessions/${sessionId}/dismissals`)
      .set(auth)
      .send({ kind: 'no-redcap-expected', comment: 'Pilot scan, never logged' })
      .expect(201);
    expect(res.body.monitors).toBeUndefined();
    expect(await rowOf(sessionId)).toMatchObject({ state: 'no-redcap-expected', outstandingSince: null });
    expect((await outstanding()).items.some((i) => i.sessionId === sessionId)).toBe(false);
    expect((await request(app).get(`/sessions/${sessionId}`).set(auth)).body.dismissals).toEqual([res.body.dismissal]);

    await request(app).delete(`/sessions/${sessionId}/dismissals/no-redcap-expected`).set(auth).expect(200);
    expect(await rowOf(sessionId)).toMatchObject({ state: 'no-redcap-record', outstandingSince: row.outstandingSince });
  });

  test('bad dismissals: 400 naming the problem, 404 for an unknown session, 409 for what came', async () => {
    const { sessionId } = await filedSession('ZHH');
    const dismiss = (body: unknown, id = sessionId) =>
      request(app)
        .post(`/sessions/${id}/dismissals`)
        .set(auth)
        .send(body as object);
    expect((await dismiss({ kind: 'no-scans-expected' }).expect(400)).body.error).toMatch(/comment.*required/);
    expect((await dismiss({ kind: 'no-scans-expected', comment: '   ' }).expect(400)).body.error).toMatch(/comment/);
    expect((await dismiss({ kind: 'maybe', comment: 'x' }).expect(400)).body.error).toMatch(
      /kind must be one of no-scans-expected, no-redcap-expected/,
    );
    expect((await dismiss({ kind: 'no-scans-expected', comment: 'x', by: 'me' }).expect(400)).body.error).toMatch(/by/);
    expect(
      (await dismiss({ kind: 'no-scans-expected', comment: 'x' }, 'SPN01_CMH_9999_01_01').expect(404)).body,
    ).toEqual({
      error: 'No session SPN01_CMH_9999_01_01',
      sessionId: 'SPN01_CMH_9999_01_01',
    });
    expect((await dismiss({ kind: 'no-redcap-expected', comment: 'x' }).expect(409)).body.error).toMatch(
      /has a REDCap record/,
    );
    await addScan(sessionId);
    expect((await dismiss({ kind: 'no-scans-expected', comment: 'x' }).expect(409)).body.error).toMatch(/has 1 scan/);
    expect(
      (await request(app).delete(`/sessions/${sessionId}/dismissals/later`).set(auth).expect(400)).body.error,
    ).toMatch(/Unknown dismissal kind "later"/);
    await request(app)
      .post(`/sessions/${sessionId}/dismissals`)
      .send({ kind: 'no-scans-expected', comment: 'x' })
      .expect(401);
    expect((await request(app).get(`/sessions/${sessionId}`).set(auth)).body.dismissals).toEqual([]);
  });
});

test('a record moved: the new session gets it; the old one keeps no record and its monitors are cancelled', async () => {
  const { sessionId: from, record } = await filedSession('ZHH');
  serial += 1;
  const to = uniqueSessionId('ZHH', serial);
  saveRow(record, to);
  expect(await pull(record)).toMatchObject({ sessionId: to, change: 'moved', movedFrom: from });
  expect(await rowOf(from)).toMatchObject({ state: 'no-redcap-record', outstandingSince: null, record: null });
  expect(await rowOf(to)).toMatchObject({ state: 'waiting', record: expect.stringContaining(`id=${record}`) });
  expect(await temporal.client.workflow.getHandle(`scan-import:${from}`).result()).toMatchObject({
    outcome: 'cancelled',
    cancelReason: `record moved to ${to}`,
  });
});

test('a failed intake → a problem (on the session it names, when there is one); filed after all → resolved', async () => {
  const { sessionId, record: first } = await filedSession('ZHH');
  // A second record names a session that has one already: refused, the session's state is `problem`.
  serial += 1;
  const second = `R${serial}`;
  saveRow(second, sessionId);
  const failure = await pull(second);
  expect(failure).toBeInstanceOf(Error);
  await eventually(async () => (await stateOf(sessionId)) === 'problem', 'the problem on the session');
  const problem = (await outstanding()).items.find((i) => i.kind === 'problem' && i.recordName === second);
  expect(problem).toMatchObject({
    sessionId,
    siteId: 'ZHH',
    record: `${fake.url}redcap_v14.5.2/DataEntry/index.php?pid=5678&id=${second}&page=mri_scan_log`,
    reason: expect.stringContaining(`Session ${sessionId} already has REDCap record ${first}`),
  });
  expect((await rowOf(sessionId))!.outstandingSince).toBe(problem!.since);

  // An id that fits no convention: a problem of the study (the config files for it), on no session.
  serial += 1;
  const third = `R${serial}`;
  saveRow(third, 'SPN01_CMH_not-an-id');
  expect(await pull(third)).toBeInstanceOf(Error);
  await eventually(
    async () => (await outstanding()).items.some((i) => i.recordName === third),
    'the problem of the bad id',
  );
  expect((await outstanding()).items.find((i) => i.recordName === third)).toMatchObject({
    kind: 'problem',
    sessionId: null,
    reason: expect.stringContaining('SPN01_CMH_not-an-id'),
  });

  // The RA corrects the second record to a session of its own: filed, the problem resolved, the first session back.
  serial += 1;
  const own = uniqueSessionId('ZHH', serial);
  saveRow(second, own);
  expect(await pull(second)).toMatchObject({ sessionId: own });
  expect(await stateOf(sessionId)).not.toBe('problem');
  expect((await outstanding()).items.some((i) => i.recordName === second)).toBe(false);
});

test('pull: an unknown config is a 404, a bad config id or body a 400; nothing starts', async () => {
  const pullOf = (path: string, body: unknown = {}) =>
    request(app)
      .post(path)
      .set(auth)
      .send(body as object);
  expect((await pullOf('/redcap/configs/99999/records/17/pull').expect(404)).body).toEqual({
    error: 'No REDCap config 99999',
    configId: 99999,
  });
  expect((await pullOf('/redcap/configs/one/records/17/pull').expect(400)).body.error).toMatch(
    /not a REDCap config id/,
  );
  expect(
    (await pullOf(`/redcap/configs/${redcap.id}/records/17/pull`, { instance: 0 }).expect(400)).body.error,
  ).toMatch(/instance/);
  expect(
    (await pullOf(`/redcap/configs/${redcap.id}/records/17/pull`, { events: 'x' }).expect(400)).body.error,
  ).toMatch(/events/);
  await request(app).post(`/redcap/configs/${redcap.id}/records/17/pull`).send({}).expect(401);
  // With event and instance: the id a trigger of that event and instance would have.
  fake.saveRow(REDCAP_TOKEN, {
    record_id: 'E1',
    redcap_event_name: 'month_6_arm_1',
    redcap_repeat_instrument: 'mri_scan_log',
    redcap_repeat_instance: 2,
    session_id: 'not-an-id',
    scan_date: '2026-11-20',
    comments: '',
    mri_scan_log_complete: '2',
  });
  const res = await pullOf(`/redcap/configs/${redcap.id}/records/E1/pull`, {
    event: 'month_6_arm_1',
    instance: 2,
  }).expect(202);
  expect(res.body).toEqual({
    status: 'accepted',
    workflowId: redcapIntakeWorkflowId(redcap.id, 'E1', 'month_6_arm_1', 2),
  });
});

test('npm run cli -- pull: files a record whose trigger never came, and says what it filed; bad input exits 1', async () => {
  serial += 1;
  const sessionId = uniqueSessionId('ZHH', serial);
  saveRow('CLI1', sessionId);
  const env = {
    DATABASE_URL: lab.databaseUrl,
    TEMPORAL_ADDRESS: devServerAddress(),
    TEMPORAL_TASK_QUEUE: lab.config.taskQueue,
    LOG_LEVEL: 'warn',
  };
  const pulled = await runCli(['pull', '--config', String(redcap.id), 'CLI1'], env);
  expect(pulled).toMatchObject({ code: 0, stderr: '' });
  expect(pulled.stdout).toBe(
    `intake ${redcapIntakeWorkflowId(redcap.id, 'CLI1')} started\nfiled: session ${sessionId} (created); its monitors started\n`,
  );
  expect(await stateOf(sessionId)).toBe('waiting');

  expect(await runCli(['pull', '--config', '99999', 'CLI1'], env)).toMatchObject({
    code: 1,
    stderr: 'error: No REDCap config 99999\n',
  });
  const bad = await runCli(['pull', '--config', String(redcap.id), '--instance', 'two', 'CLI1'], env);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/"two" is not a repeat instance/);
});
