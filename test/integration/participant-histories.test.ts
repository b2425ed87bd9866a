/**
 * Nothing of the participant in Temporal's histories (issue 23 item 2), end to end on the suite's dev server: triggers
 * through POST /redcap (a record filed, a session id that does not parse, a date that is not one), the monitors of the
 * filed sessions running to their emails, a reconciliation that finds a record no trigger announced, monitors
 * cancelled with a reason a person typed or ended by a dismissal with a comment, the study's daily digest; a real worker,
 * PostgreSQL, a real SMTP server, the fake REDCap. Then every history this file left is read, each payload decoded,
 * and none may hold a comment, a user, the session id or date as typed, a cancel's reason or a dismissal's comment, or
 * the text of an email sent
 * (test/support/history-scan.ts; the suite's teardown does the same for every test file).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { RedcapConfig } from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { startScanMonitors } from '../../src/temporal/monitors';
import {
  LAB_DIGEST_WORKFLOW,
  labDigestScheduleId,
  REDCAP_RECONCILE_WORKFLOW,
  redcapReconcileScheduleId,
  statusQuery,
  type LabDigestResult,
  type RedcapIntakeResult,
  type RedcapReconcileResult,
} from '../../surface';
import { createTestDatabase } from '../support/db';
import { FakeRedcap } from '../support/fake-redcap';
import { describeFinding, scanHistories, type Scan } from '../support/history-scan';
import { freeEmailHour, seedLab, seedSession, uniqueSessionId } from '../support/lab';
import { participantTextsOfThisProcess, registerParticipantText } from '../support/participant-texts';
import { eventually } from '../support/processes';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp';
import { connectDevServer, quietTemporalLogs, workflowFailure } from '../support/temporal';
import { startTestWorker, type TestWorker } from '../support/worker';

jest.setTimeout(180_000);

const TOKEN = 'ABCDABCDABCDABCDABCDABCDABCDABCD';
const RUN = randomUUID().replace(/-/g, '').slice(0, 8);
/** What the RA typed: every piece of it must stay out of the histories. */
const typed = {
  comment: `Participant ${RUN} felt dizzy in the scanner`,
  user: `ra.${RUN}.jdoe`,
  badSession: `not a session ${RUN} dizzy`,
  badDate: `21/11/2026 at ${RUN}`,
  reconciledComment: `Entered by import ${RUN}, no trigger`,
  cancelReason: `Participant ${RUN} withdrew: claustrophobic`,
  dismissalComment: `Participant ${RUN} moved away, no scan`,
};
const API_TOKEN = 'participant-histories-api-token';
const auth = { Authorization: `Bearer ${API_TOKEN}` };

let orm: Orm;
let fake: FakeRedcap;
let smtp: TestSmtpServer;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let worker: TestWorker;
let config: Config;
let redcap: RedcapConfig;
let scan: Scan;

function row(record: string, session: string, changes: Record<string, string> = {}): Record<string, string> {
  return {
    record_id: record,
    session_id: session,
    scan_date: '2026-11-21',
    comments: `${typed.comment} (${record})`,
    ra_id: typed.user,
    mri_scan_log_complete: '2',
    ...changes,
  };
}

const det = (record: string) => ({
  redcap_url: fake.url,
  project_url: `${fake.url}redcap_v14.5.2/index.php?pid=1234`,
  project_id: '1234',
  username: typed.user,
  record,
  instrument: 'mri_scan_log',
  mri_scan_log_complete: '2',
});

beforeAll(async () => {
  quietTemporalLogs();
  ({ orm } = await createTestDatabase());
  // Config ids of our own: intake ids (redcap-intake:<configId>:…) are global on the shared dev server.
  await orm.em
    .getConnection()
    .execute(`select setval('redcap_config_id_seq', ${3_000_000 + Math.floor(Math.random() * 1_000_000)})`);
  await seedLab(orm);
  fake = await FakeRedcap.start();
  smtp = await startSmtpServer();
  temporal = await connectDevServer();
  const scripts = fs.mkdtempSync(path.join(os.tmpdir(), 'participant-histories-jobs-'));
  for (const script of ['download.sh', 'post_download.sh']) fs.writeFileSync(path.join(scripts, script), 'exit 0\n');
  config = loadConfig({
    API_TOKEN,
    TEMPORAL_TASK_QUEUE: `participant-histories-${RUN}`,
    SMTP_URL: smtp.url,
    SUBMIT_SCRIPTS: scripts,
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'participant-histories-')),
    SCAN_CHECK_DELAY: '1s',
    DOWNLOAD_WINDOW: '4s',
    DOWNLOAD_RETRY_INITIAL: '1s',
    DOWNLOAD_RETRY_MAX: '1s',
  });
  const em = orm.em.fork();
  redcap = await em.findOneOrFail(RedcapConfig, { project: 1234 });
  Object.assign(redcap, { url: fake.url, token: TOKEN, userField: 'ra_id' });
  await em.flush();
  fake.addProject({
    token: TOKEN,
    records: [
      row('P1', uniqueSessionId('CMH', 1).toLowerCase()),
      row('P2', typed.badSession),
      row('P3', uniqueSessionId('ZHH', 3), { scan_date: typed.badDate }),
    ],
  });
  registerParticipantText('redcap-session', typed.badSession);
  registerParticipantText('redcap-date', typed.badDate);

  worker = await startTestWorker({ config, orm, server: temporal, logger: pino({ level: 'silent' }) });
  const app = createApp({ config, orm, temporal: temporal.client, logger: pino({ level: 'silent' }) }).callback();
  const post = async (record: string) =>
    (await request(app).post('/redcap').type('form').send(det(record)).expect(202)).body.workflowId as string;
  const monitorsOf = async (workflowId: string) => {
    const result = (await temporal.client.workflow.getHandle(workflowId).result()) as RedcapIntakeResult;
    const started = [result.monitors?.scanImport, result.monitors?.scanDownload].filter((m) => m !== undefined);
    return Promise.all(started.map((m) => temporal.client.workflow.getHandle(m.workflowId, m.runId).result()));
  };

  // A record filed: its monitors run to their emails (no scan data; the download gives up).
  expect(await monitorsOf(await post('P1'))).toEqual([
    { outcome: 'email-sent' },
    expect.objectContaining({ outcome: 'gave-up' }),
  ]);
  // A session id that does not parse, and a date that is not one: the intakes fail, the admins get the details.
  // (Each its own email: the hourly limit of the config's failure emails is freed before each.)
  for (const record of ['P2', 'P3']) {
    await freeEmailHour(orm);
    await workflowFailure(temporal.client, await post(record));
  }
  await freeEmailHour(orm);
  // A record no trigger announced: reconciliation starts its intake, emails the admins; its monitor emails too.
  fake.saveRow(TOKEN, row('P4', uniqueSessionId('ZHH', 4), { comments: typed.reconciledComment }));
  const reconciled: RedcapReconcileResult = await temporal.client.workflow.execute(REDCAP_RECONCILE_WORKFLOW, {
    taskQueue: config.taskQueue,
    workflowId: `${redcapReconcileScheduleId(redcap.id)}-test-${RUN}`,
    args: [{ configId: redcap.id }],
  });
  expect(reconciled).toEqual({ checked: 4, started: 1, unchanged: 3 });
  await eventually(() => smtp.messages.length === 6, 'the six emails', 60_000);

  // Monitors that wait (an hour) until a person ends them: a cancel with a reason, a dismissal with a comment.
  registerParticipantText('typed-reason', typed.cancelReason);
  registerParticipantText('typed-reason', typed.dismissalComment);
  const waiting = {
    ...config,
    durations: {
      ...config.durations,
      scanCheckDelayMs: 3_600_000,
      downloadWindowMs: 7_200_000,
      downloadRetryInitialMs: 3_600_000,
      downloadRetryMaxMs: 3_600_000,
    },
  };
  const ended = async (sessionId: string, end: () => Promise<unknown>) => {
    await seedSession(orm, sessionId);
    const started = await startScanMonitors(temporal.client, waiting, {
      sessionId,
      studyId: 'SPN01',
      siteId: 'CMH',
      downloadScript: 'download.sh',
    });
    const handles = [started.scanImport, started.scanDownload!].map((m) =>
      temporal.client.workflow.getHandle(m.workflowId, m.runId),
    );
    await eventually(async () => (await handles[0].query(statusQuery)).state === 'waiting', 'the wait');
    await end();
    return Promise.all(handles.map((handle) => handle.result()));
  };
  const [cancelled, dismissed] = [uniqueSessionId('CMH', 5), uniqueSessionId('CMH', 6)];
  const cancel = () =>
    request(app)
      .post(`/sessions/${cancelled}/monitors/cancel`)
      .set(auth)
      .send({ reason: typed.cancelReason })
      .expect(200);
  expect(await ended(cancelled, cancel)).toEqual([
    { outcome: 'cancelled' },
    expect.objectContaining({ outcome: 'cancelled' }),
  ]);
  const shown = (await request(app).get(`/sessions/${cancelled}`).set(auth).expect(200)).body;
  expect(shown.monitors.map((m: { cancelReason?: string }) => m.cancelReason)).toEqual([
    typed.cancelReason,
    typed.cancelReason,
  ]);
  const dismiss = () =>
    request(app)
      .post(`/sessions/${dismissed}/dismissals`)
      .set(auth)
      .send({ kind: 'no-scans-expected', comment: typed.dismissalComment })
      .expect(201);
  expect(await ended(dismissed, dismiss)).toEqual([
    { outcome: 'cancelled', cancelReason: 'dismissed: no scans expected' },
    expect.objectContaining({ outcome: 'cancelled', cancelReason: 'dismissed: no scans expected' }),
  ]);

  // The study's daily digest: it tells the outstanding sessions, the failed intakes, the missed trigger.
  const digest: LabDigestResult = await temporal.client.workflow.execute(LAB_DIGEST_WORKFLOW, {
    taskQueue: config.taskQueue,
    workflowId: `${labDigestScheduleId('SPN01')}-test-${RUN}`,
    args: [{ studyId: 'SPN01' }],
  });
  expect(digest).toMatchObject({ sent: true });
  await eventually(() => smtp.messages.length === 7, 'the digest', 60_000);
  await eventually(
    async () => {
      let running = 0;
      for await (const _ of temporal.client.workflow.list({
        query: `TaskQueue="${config.taskQueue}" AND ExecutionStatus="Running"`,
      }))
        running += 1;
      return running === 0;
    },
    'every workflow of this file to end',
    60_000,
  );
  scan = await scanHistories(temporal.client, participantTextsOfThisProcess(), `TaskQueue="${config.taskQueue}"`);
});

afterAll(async () => {
  await worker?.stop();
  await temporal?.close();
  await smtp?.close();
  await fake?.close();
  await orm?.close();
});

const found = (workflowTypes: string[], kinds: (kind: string) => boolean) =>
  scan.findings.filter((f) => workflowTypes.includes(f.workflowType) && kinds(f.kind)).map(describeFinding);

test('the emails went out with what the RA typed, and the scan looked for all of it', () => {
  const digests = smtp.messages.filter((mail) => mail.subject.startsWith('[SPN01] Daily scan report: '));
  expect(digests).toHaveLength(1);
  expect(
    smtp.messages
      .filter((mail) => !digests.includes(mail))
      .map((mail) => mail.subject)
      .sort(),
  ).toEqual(
    [
      `[SPN01] No scan data received for ${uniqueSessionId('CMH', 1)}`,
      `[SPN01] Scan download gave up for ${uniqueSessionId('CMH', 1)}`,
      `[SPN01] No scan data received for ${uniqueSessionId('ZHH', 4)}`,
      'REDCap record P2 could not be filed',
      'REDCap record P3 could not be filed',
      'REDCap project 1234 (mri_scan_log): 1 record arrived without a Data Entry Trigger',
    ].sort(),
  );
  const mail = (subject: string) => smtp.messages.find((m) => m.subject === subject)!.text;
  expect(mail('REDCap record P2 could not be filed')).toContain(typed.badSession);
  expect(mail('REDCap record P3 could not be filed')).toContain(typed.badDate);
  const texts = participantTextsOfThisProcess().map((t) => t.text);
  for (const text of [
    typed.user,
    typed.badSession,
    typed.badDate,
    typed.reconciledComment,
    `${typed.comment} (P1)`,
    typed.cancelReason,
    typed.dismissalComment,
    digests[0].subject,
  ])
    expect(texts).toContain(text);
  // 4 intakes, 1 reconciliation, 3 monitors run to their emails, 4 ended by a person, 1 digest.
  expect(scan.histories).toBe(13);
});

test('the intake and reconciliation histories hold no comment, user, session id or date as typed, and no email text', () => {
  expect(found(['RedcapIntakeWorkflow', 'RedcapReconcileWorkflow'], () => true)).toEqual([]);
});

test("the monitors' histories hold nothing REDCap sent", () => {
  expect(found(['ScanImportWorkflow', 'ScanDownloadWorkflow'], (kind) => kind.startsWith('redcap-'))).toEqual([]);
});

test("the monitors' histories hold no email text", () => {
  expect(found(['ScanImportWorkflow', 'ScanDownloadWorkflow'], (kind) => kind.startsWith('email-'))).toEqual([]);
});

test("the monitors' histories hold no cancel reason or dismissal comment a person typed", () => {
  expect(found(['ScanImportWorkflow', 'ScanDownloadWorkflow'], (kind) => kind === 'typed-reason')).toEqual([]);
});

test("the digest's history holds nothing of the participant: no REDCap text, nothing typed, no email text", () => {
  expect(found(['LabDigestWorkflow'], () => true)).toEqual([]);
});
