/**
 * ScanImportWorkflow on Temporal's time-skipping test server, with the real default durations (a 2-day
 * wait), real activities, a real database and a real SMTP server.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Session, User } from '../../src/db/entities';
import { SentEmail } from '../../src/db/sent-email';
import { recordMonitorsCancelled } from '../../src/sessions/cancel';
import { startScanMonitors } from '../../src/temporal/monitors';
import { temporal } from '@temporalio/proto';
import { cancelSignal, scansArrivedSignal, statusQuery, type ScanImportResult } from '../../surface';
import { historyText } from '../support/history-text';
import { addScan, seedSession } from '../support/lab';
import { timeSkippingMonitors, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';

const DAY = 86_400_000;
let env: TestWorkflowEnvironment;
let lab: MonitorHarness;
let serial = 0;
timeSkippingMonitors((suite) => ({ env, lab } = suite));

/** A fresh session at CMH logged in REDCap, without scans. */
async function newSession(options: { record?: boolean } = {}) {
  serial += 1;
  const sessionId = `SPN01_CMH_${String(serial).padStart(4, '0')}_01_01`;
  const { recordId } = await seedSession(lab.orm, sessionId, options);
  return { sessionId, recordId };
}

async function startImport(sessionId: string, recipients?: string[]) {
  const started = await startScanMonitors(
    env.client,
    lab.config,
    { sessionId, studyId: 'SPN01', siteId: 'CMH' },
    { recipients },
  );
  const handle = env.client.workflow.getHandle(started.scanImport.workflowId, started.scanImport.runId);
  return Object.assign(handle, { runId: started.scanImport.runId });
}

async function waitingUntil(handle: Awaited<ReturnType<typeof startImport>>): Promise<number> {
  let nextCheckAt: string | undefined;
  await eventually(async () => {
    const status = await handle.query(statusQuery);
    nextCheckAt = status.state === 'waiting' ? status.nextCheckAt : undefined;
    return nextCheckAt !== undefined;
  }, 'the monitor to wait');
  return Date.parse(nextCheckAt!);
}

test('a session that already has scans ends scans-present without waiting or email', async () => {
  const { sessionId } = await newSession();
  await addScan(lab.orm, sessionId);
  const handle = await startImport(sessionId);
  expect(await handle.result()).toEqual({ outcome: 'scans-present' });
  expect(await handle.query(statusQuery)).toMatchObject({ state: 'done', outcome: 'scans-present' });
  expect(await checks(handle)).toBe(1);
  expect(lab.smtp.messages).toHaveLength(0);
});

test('no scans after 2 days: one email to the admins naming the study, the session, the wait and the record', async () => {
  const { sessionId, recordId } = await newSession();
  const handle = await startImport(sessionId);
  const started = (await handle.describe()).startTime.getTime();
  const checkAt = await waitingUntil(handle);
  expect(checkAt - started).toBeGreaterThanOrEqual(2 * DAY);
  expect(checkAt - started).toBeLessThan(2 * DAY + 60_000);

  expect(await handle.result()).toEqual<ScanImportResult>({ outcome: 'email-sent' });
  expect(lab.smtp.messages).toHaveLength(1);
  const [mail] = lab.smtp.messages;
  expect(mail.subject).toBe(`[SPN01] No scan data received for ${sessionId}`);
  expect(mail.to).toEqual(['ada@example.org']);
  expect(mail.text).toContain('after waiting 2 days');
  expect(mail.text).toContain('https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234&id=');
  expect(mail.text).toContain(`/redcap_redirect/${recordId}`);
  const ledger = await lab.orm.em.fork().find(SentEmail, { sessionId });
  expect(ledger).toEqual([
    expect.objectContaining({ status: 'sent', kind: 'no-scans', key: `${handle.workflowId}:${handle.runId}:no-scans` }),
  ]);

  // The email was composed where it was sent: its history holds ids, kind, key and times, never its text.
  const history = await handle.fetchHistory();
  const text = historyText(history);
  for (const composed of [mail.subject, ...mail.text.split('\n').filter((line) => line.length > 20), '2026-11-20'])
    expect(text).not.toContain(composed);
  const emailInputs = (history.events ?? [])
    .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendMonitorEmail')
    .map((e) =>
      e.activityTaskScheduledEventAttributes!.input!.payloads!.map((p) => JSON.parse(Buffer.from(p.data!).toString())),
    );
  expect(emailInputs).toEqual([
    [{ kind: 'no-scans', key: `${handle.workflowId}:${handle.runId}:no-scans`, sessionId, waitedMs: 2 * DAY }],
  ]);
});

test('the email goes to the recipients the workflow was given', async () => {
  const { sessionId } = await newSession();
  const handle = await startImport(sessionId, ['pi@example.org']);
  expect(await handle.result()).toEqual({ outcome: 'email-sent' });
  expect(lab.smtp.messages.map((m) => m.to)).toEqual([['pi@example.org']]);
});

test('scansArrived with the scans stored ends it scans-present, without email', async () => {
  const { sessionId } = await newSession();
  const handle = await startImport(sessionId);
  await waitingUntil(handle);
  await addScan(lab.orm, sessionId);
  await handle.signal(scansArrivedSignal);
  expect(await handle.result()).toEqual({ outcome: 'scans-present' });
  expect(lab.smtp.messages).toHaveLength(0);
});

test('scansArrived with no scans in the database keeps waiting, then emails after the 2 days', async () => {
  const { sessionId } = await newSession();
  const handle = await startImport(sessionId);
  const checkAt = await waitingUntil(handle);
  await handle.signal(scansArrivedSignal);
  await eventually(async () => (await handle.query(statusQuery)).state === 'waiting', 'the monitor to wait again');
  expect(Date.parse((await handle.query(statusQuery)).nextCheckAt!)).toBe(checkAt);
  expect(await handle.result()).toEqual({ outcome: 'email-sent' });
  expect(lab.smtp.messages).toHaveLength(1);
});

/** The checks of the database (checkScans activities) the monitor has scheduled so far, from its history. */
async function checks(handle: Awaited<ReturnType<typeof startImport>>): Promise<number> {
  const { events } = await handle.fetchHistory();
  return (events ?? []).filter(
    (e) =>
      e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkScans',
  ).length;
}

test('a session without scans is checked at the start and after the 2 days, then emailed once', async () => {
  const { sessionId } = await newSession();
  const handle = await startImport(sessionId);
  await waitingUntil(handle);
  expect(await checks(handle)).toBe(1);
  expect(await handle.result()).toEqual({ outcome: 'email-sent' });
  expect(await checks(handle)).toBe(2);
  expect(lab.smtp.messages).toHaveLength(1);
});

test('a check sent in the argument of scansArrived is not taken: the monitor reads the database', async () => {
  const { sessionId } = await newSession();
  const handle = await startImport(sessionId);
  const checkAt = await waitingUntil(handle);
  // No scan in the database: a made-up check (scans present, or a cancel) must not end the monitor.
  const untyped = env.client.workflow.getHandle(handle.workflowId);
  await untyped.signal('scansArrived', { check: { missingScans: false, scans: 2 } });
  await eventually(async () => (await checks(handle)) === 2, 'the database check');
  await untyped.signal('scansArrived', { check: { missingScans: true, scans: 0, cancelled: { reason: 'made up' } } });
  await eventually(async () => (await checks(handle)) === 3, 'the second database check');
  await eventually(async () => (await handle.query(statusQuery)).state === 'waiting', 'the monitor to wait again');
  expect(Date.parse((await handle.query(statusQuery)).nextCheckAt!)).toBe(checkAt);
  expect(await handle.result()).toEqual({ outcome: 'email-sent' });
  expect(await checks(handle)).toBe(4);
  expect(lab.smtp.messages).toHaveLength(1);
});

test('scansArrived with a malformed argument is a plain scansArrived: the monitor reads the database', async () => {
  const { sessionId } = await newSession();
  const handle = await startImport(sessionId);
  const checkAt = await waitingUntil(handle);
  const before = await checks(handle);
  await env.client.workflow
    .getHandle(handle.workflowId)
    .signal('scansArrived', { check: { missingScans: 'no', scans: 'many' } });
  await eventually(async () => (await checks(handle)) === before + 1, 'the database check');
  await eventually(async () => (await handle.query(statusQuery)).state === 'waiting', 'the monitor to wait again');
  expect(Date.parse((await handle.query(statusQuery)).nextCheckAt!)).toBe(checkAt);
  await handle.signal(cancelSignal, { reason: 'test done' });
  expect(await handle.result()).toMatchObject({ outcome: 'cancelled' });
});

test('cancel ends it cancelled, with the reason, and no email', async () => {
  const { sessionId } = await newSession();
  const handle = await startImport(sessionId);
  await waitingUntil(handle);
  await handle.signal(cancelSignal, { reason: 'participant withdrew' });
  expect(await handle.result()).toEqual({ outcome: 'cancelled', cancelReason: 'participant withdrew' });
  expect(await handle.query(statusQuery)).toMatchObject({
    state: 'done',
    outcome: 'cancelled',
    cancelReason: 'participant withdrew',
  });
  expect(lab.smtp.messages).toHaveLength(0);
});

test('a cancel recorded on the session during the wait (no signal) ends it cancelled at the check, without email', async () => {
  const { sessionId } = await newSession();
  const handle = await startImport(sessionId);
  await waitingUntil(handle);
  await recordMonitorsCancelled(lab.orm.em.fork() as EntityManager, sessionId, 'scanned at another site');
  expect(await handle.result()).toEqual({ outcome: 'cancelled' }); // the reason stays in the database
  expect(lab.smtp.messages).toHaveLength(0);
});

test('a cancel recorded on the session while the email waits for the SMTP server: no email, cancelled', async () => {
  const { sessionId } = await newSession();
  lab.smtp.rejectNext(1_000);
  // A 1-second wait, in real time: the test server skips time only while a client waits for a result.
  const config = { ...lab.config, durations: { ...lab.config.durations, scanCheckDelayMs: 1_000 } };
  const started = await startScanMonitors(env.client, config, { sessionId, studyId: 'SPN01', siteId: 'CMH' });
  const handle = env.client.workflow.getHandle(started.scanImport.workflowId, started.scanImport.runId);
  try {
    await eventually(async () => (await handle.query(statusQuery)).state === 'emailing', 'the monitor to email');
    await eventually(
      async () => (await lab.orm.em.fork().count(SentEmail, { sessionId, status: 'failed' })) === 1,
      'the first send to be refused',
    );
    await recordMonitorsCancelled(lab.orm.em.fork() as EntityManager, sessionId, 'withdrawn');
  } finally {
    lab.smtp.rejectNext(0);
  }
  expect(await handle.result()).toEqual({ outcome: 'cancelled' }); // the reason stays in the database
  expect(lab.smtp.messages).toHaveLength(0);
});

test('a session deleted during the wait fails the monitor with a clear, non-retryable error', async () => {
  const { sessionId } = await newSession();
  const handle = await startImport(sessionId);
  await waitingUntil(handle);
  await lab.orm.em.fork().nativeDelete(Session, { id: sessionId });
  const failure = await handle.result().catch((err: unknown) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  const cause = (failure as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ActivityFailure);
  expect(cause?.cause).toBeInstanceOf(ApplicationFailure);
  expect(cause?.cause).toMatchObject({ type: 'SessionNotFound', nonRetryable: true });
  expect((cause?.cause as Error).message).toContain(`Session ${sessionId} is no longer in the database`);
  expect(lab.smtp.messages).toHaveLength(0);
});

test('no admin with an email: the monitor fails with a message naming the session', async () => {
  const { sessionId } = await newSession();
  const em = lab.orm.em.fork();
  await em.nativeUpdate(User, { admin: true }, { admin: false });
  try {
    const handle = await startImport(sessionId);
    const failure = await handle.result().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause?.cause).toMatchObject({ type: 'NoRecipients', nonRetryable: true });
    expect(((failure as WorkflowFailedError).cause?.cause as Error).message).toContain(`session ${sessionId}`);
  } finally {
    await em.nativeUpdate(User, { email: 'ada@example.org' }, { admin: true });
  }
  expect(lab.smtp.messages).toHaveLength(0);
});

test('a session with no REDCap record is not missing scans: scans-present at once', async () => {
  const { sessionId } = await newSession({ record: false });
  const handle = await startImport(sessionId);
  expect(await handle.result()).toEqual({ outcome: 'scans-present' });
});
