/**
 * emailAdmins on a real database and a real SMTP server: one email per key, however often it is called,
 * retried, or raced; a failed send is retried; a claim whose sender died is sent once its lease has run out;
 * nobody to email is a clear, permanent failure. sendMonitorEmail composes a monitor's email from the session and
 * sends it through emailAdmins.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createMailActivities, ledgerKey } from '../../activities/mail';
import { createMonitorActivities } from '../../activities/monitors';
import type { ActivityDeps } from '../../activities/deps';
import { loadConfig } from '../../src/config';
import { SentEmail } from '../../src/db/sent-email';
import type { Orm } from '../../src/db/orm';
import { logger } from '../../src/logger';
import { createMailer } from '../../src/mail/transport';
import { emailsSentTotal } from '../../src/metrics';
import { createTestDatabase } from '../support/db';
import { eventually } from '../support/processes';
import { recordMonitorsCancelled } from '../../src/sessions/cancel';
import { seedLab, seedSession } from '../support/lab';
import { connectDevServer } from '../support/temporal';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp';

let orm: Orm;
let smtp: TestSmtpServer;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let deps: ActivityDeps;

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
  await seedLab(orm, { admins: ['ada@example.org', 'bo@example.org'] });
  smtp = await startSmtpServer();
  temporal = await connectDevServer();
  const config = loadConfig({ SMTP_URL: smtp.url, MAIL_FROM: 'monitor@lab.example.org' });
  deps = {
    config,
    orm,
    logger: logger.child({ test: 'admin-email' }, { level: 'warn' }),
    temporal: temporal.client,
    mailer: createMailer(config),
  };
});

afterAll(async () => {
  deps.mailer.close();
  await temporal.close();
  await smtp.close();
  await orm.close();
});

beforeEach(() => {
  smtp.messages.length = 0;
});

const email = (key: string) => ({
  key,
  subject: `[SPN01] Test ${key}`,
  text: 'Hello admins',
  sessionId: 'SPN01_CMH_0001_01_01',
});

async function metric(kind: string): Promise<number> {
  const values = (await emailsSentTotal.get()).values;
  return values.find((v) => v.labels.kind === kind)?.value ?? 0;
}

test('sends to every admin with an email, once per key', async () => {
  const { emailAdmins } = createMailActivities(deps);
  const before = await metric('no-scans');
  const first = await emailAdmins(email('wf-1:run-1:no-scans'));
  expect(first).toEqual({ sent: true, recipients: ['ada@example.org', 'bo@example.org'] });
  const again = await emailAdmins(email('wf-1:run-1:no-scans'));
  expect(again).toEqual({ sent: true, alreadySent: true, recipients: ['ada@example.org', 'bo@example.org'] });

  expect(smtp.messages).toHaveLength(1);
  expect(smtp.messages[0]).toMatchObject({
    from: 'monitor@lab.example.org',
    to: ['ada@example.org', 'bo@example.org'],
    subject: '[SPN01] Test wf-1:run-1:no-scans',
  });
  expect(smtp.messages[0].text).toContain('Hello admins');
  const row = await orm.em.fork().findOneOrFail(SentEmail, { key: 'wf-1:run-1:no-scans' });
  expect(row).toMatchObject({ status: 'sent', kind: 'no-scans', sessionId: 'SPN01_CMH_0001_01_01', attempts: 1 });
  expect(row.sentAt).toBeInstanceOf(Date);
  expect(row.messageId).toBeTruthy();
  expect((await metric('no-scans')) - before).toBe(1);
});

test('explicit recipients replace the admins', async () => {
  const { emailAdmins } = createMailActivities(deps);
  const result = await emailAdmins({
    ...email('wf-2:run-1:no-scans'),
    recipients: ['lab@example.org', ' lab@example.org '],
  });
  expect(result).toEqual({ sent: true, recipients: ['lab@example.org'] });
  expect(smtp.messages.map((m) => m.to)).toEqual([['lab@example.org']]);
});

test('a send the SMTP server refuses releases the claim, and the retry sends it (once)', async () => {
  const { emailAdmins } = createMailActivities(deps);
  smtp.rejectNext(1);
  await expect(emailAdmins(email('wf-3:run-1:no-scans'))).rejects.toThrow(/Try again later/);
  const failed = await orm.em.fork().findOneOrFail(SentEmail, { key: 'wf-3:run-1:no-scans' });
  expect(failed.status).toBe('failed');
  expect(failed.error).toMatch(/Try again later/);
  expect(smtp.messages).toHaveLength(0);

  expect(await emailAdmins(email('wf-3:run-1:no-scans'))).toEqual({
    sent: true,
    recipients: ['ada@example.org', 'bo@example.org'],
  });
  expect(await emailAdmins(email('wf-3:run-1:no-scans'))).toMatchObject({ sent: true, alreadySent: true });
  expect(smtp.messages).toHaveLength(1);
  const row = await orm.em.fork().findOneOrFail(SentEmail, { key: 'wf-3:run-1:no-scans' });
  expect(row).toMatchObject({ status: 'sent', attempts: 2, error: null });
});

/** A sender that died between its claim and the ledger write left this row behind. */
async function leftBehind(key: string, leaseUntil: Date | null): Promise<void> {
  const em = orm.em.fork();
  em.create(SentEmail, {
    key,
    kind: 'no-scans',
    subject: 's',
    recipients: 'ada@example.org',
    status: 'sending',
    leaseUntil,
  });
  await em.flush();
}

test('a claim left by a sender that died mid-send: refused while its lease holds, sent once it has run out', async () => {
  const { emailAdmins } = createMailActivities(deps);
  await leftBehind('wf-4:run-1:no-scans', new Date(Date.now() + 3_600_000));
  const refused = await emailAdmins(email('wf-4:run-1:no-scans')).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(ApplicationFailure);
  expect(refused).toMatchObject({ type: 'EmailBeingSent', nonRetryable: false });
  expect((refused as Error).message).toMatch(/being sent by another attempt/);
  expect(smtp.messages).toHaveLength(0);

  // The lease runs out (its sender is gone): the next attempt takes the claim and sends.
  await orm.em
    .fork()
    .nativeUpdate(SentEmail, { key: 'wf-4:run-1:no-scans' }, { leaseUntil: new Date(Date.now() - 1_000) });
  expect(await emailAdmins(email('wf-4:run-1:no-scans'))).toEqual({
    sent: true,
    recipients: ['ada@example.org', 'bo@example.org'],
  });
  expect(smtp.messages).toHaveLength(1);
  expect(await orm.em.fork().findOneOrFail(SentEmail, { key: 'wf-4:run-1:no-scans' })).toMatchObject({
    status: 'sent',
    attempts: 2,
    leaseUntil: null,
  });
});

test('a claim left sending by the release before leases (no lease) is sent', async () => {
  const { emailAdmins } = createMailActivities(deps);
  await leftBehind('wf-4:run-2:no-scans', null);
  expect(await emailAdmins(email('wf-4:run-2:no-scans'))).toMatchObject({ sent: true });
  expect(smtp.messages).toHaveLength(1);
});

test('a claim holds for EMAIL_LEASE from the claim; meanwhile a second caller sends nothing and fails retryably', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const slowMailer = {
    ...deps.mailer,
    send: async (mail: Parameters<typeof deps.mailer.send>[0]) => (await held, deps.mailer.send(mail)),
  };
  const config = loadConfig({ SMTP_URL: smtp.url, EMAIL_LEASE: '90s' });
  const slow = createMailActivities({ ...deps, config, mailer: slowMailer });
  const first = slow.emailAdmins(email('wf-8:run-1:no-scans'));

  let row: SentEmail | null = null;
  await eventually(
    async () => (row = await orm.em.fork().findOne(SentEmail, { key: 'wf-8:run-1:no-scans' })) !== null,
    'the claim',
  );
  expect(row!.status).toBe('sending');
  expect(row!.leaseUntil!.getTime() - row!.createdAt.getTime()).toBe(90_000);
  await expect(createMailActivities(deps).emailAdmins(email('wf-8:run-1:no-scans'))).rejects.toMatchObject({
    type: 'EmailBeingSent',
  });

  release();
  expect(await first).toMatchObject({ sent: true });
  expect(smtp.messages).toHaveLength(1);
});

test('ten concurrent calls with one key send one email; the others find it sent or being sent', async () => {
  const { emailAdmins } = createMailActivities(deps);
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => emailAdmins(email('wf-5:run-1:no-scans'))));
  const sentNow = results.filter((r) => r.status === 'fulfilled' && !r.value.alreadySent);
  expect(sentNow).toHaveLength(1);
  for (const result of results) {
    if (result.status === 'rejected') expect(result.reason).toMatchObject({ type: 'EmailBeingSent' });
  }
  expect(smtp.messages).toHaveLength(1);
});

test('a record name of 200 characters (an intake failure email key over 255 characters): sent, once per key', async () => {
  const { emailAdmins } = createMailActivities(deps);
  // As RedcapIntakeWorkflow names it: `${workflowId}:${runId}:intake-failed`, the record in the workflow id.
  const keyOf = (record: string) => `redcap-intake:1:${record}:${randomUUID()}:intake-failed`;
  const record = 'R'.repeat(199);
  const first = keyOf(`${record}1`);
  const second = keyOf(`${record}2`);
  expect(first.length).toBeGreaterThan(255);

  expect(await emailAdmins(email(first))).toMatchObject({ sent: true });
  expect(await emailAdmins(email(first))).toMatchObject({ sent: true, alreadySent: true });
  expect(await emailAdmins(email(second))).toMatchObject({ sent: true });
  expect(smtp.messages).toHaveLength(2);
  const rows = await orm.em.fork().find(SentEmail, { key: { $like: 'redcap-intake:1:RRR%' } });
  expect(rows.map((row) => ({ status: row.status, kind: row.kind, length: row.key.length }))).toEqual([
    { status: 'sent', kind: 'intake-failed', length: 255 },
    { status: 'sent', kind: 'intake-failed', length: 255 },
  ]);
  // Short keys stay as they are (rows written before keys were shortened are found again).
  expect(ledgerKey('wf-1:run-1:no-scans')).toBe('wf-1:run-1:no-scans');
  expect([...ledgerKey(`${'é'.repeat(150)}${'😀'.repeat(150)}`)]).toHaveLength(255);
});

test('an attempt that stalls past its lease, then fails, leaves the claim of the attempt that took over: no third copy', async () => {
  const key = 'wf-9:run-1:no-scans';
  const leaseOf = (lease: string) => loadConfig({ SMTP_URL: smtp.url, EMAIL_LEASE: lease });
  const claimRow = () => orm.em.fork().findOne(SentEmail, { key });
  // A: its send hangs past its 1 s lease (a stalled SMTP connection), then fails.
  let failA!: (err: Error) => void;
  const stalled = { ...deps.mailer, send: () => new Promise<never>((_, reject) => (failA = reject)) };
  const a = createMailActivities({ ...deps, config: leaseOf('1s'), mailer: stalled }).emailAdmins(email(key));
  await eventually(async () => (await claimRow()) !== null, 'the first claim');
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  // B: takes the key over (A's lease ran out); its send is slow.
  let releaseB!: () => void;
  const heldB = new Promise<void>((resolve) => (releaseB = resolve));
  const slow = {
    ...deps.mailer,
    send: async (mail: Parameters<typeof deps.mailer.send>[0]) => (await heldB, deps.mailer.send(mail)),
  };
  const b = createMailActivities({ ...deps, config: leaseOf('90s'), mailer: slow }).emailAdmins(email(key));
  await eventually(async () => (await claimRow())?.attempts === 2, 'the second claim');

  failA(new Error('SMTP connection timed out'));
  await expect(a).rejects.toThrow(/timed out/);
  expect(await claimRow()).toMatchObject({ status: 'sending', attempts: 2 });
  // C: B's claim is live, so C sends nothing.
  await expect(createMailActivities(deps).emailAdmins(email(key))).rejects.toMatchObject({ type: 'EmailBeingSent' });
  releaseB();
  expect(await b).toMatchObject({ sent: true });
  expect(smtp.messages).toHaveLength(1);
  expect(await claimRow()).toMatchObject({ status: 'sent', attempts: 2 });
});

test('no admin with an email address: a permanent failure that names the session', async () => {
  const { orm: empty } = await createTestDatabase();
  try {
    await seedLab(empty, { admins: [] });
    const { emailAdmins } = createMailActivities({ ...deps, orm: empty });
    const failure = await emailAdmins(email('wf-6:run-1:no-scans')).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'NoRecipients', nonRetryable: true });
    expect((failure as Error).message).toMatch(/SPN01_CMH_0001_01_01/);
    expect((failure as Error).message).toMatch(/admin/);
    expect(await empty.em.fork().count(SentEmail)).toBe(0);
  } finally {
    await empty.close();
  }
});

test('without SMTP_URL each message is an .eml file under DATA_DIR/outbox', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-'));
  const mailer = createMailer(loadConfig({ DATA_DIR: dataDir }));
  const { emailAdmins } = createMailActivities({ ...deps, mailer });
  expect(await emailAdmins(email('wf-7:run-1:no-scans'))).toMatchObject({ sent: true });
  const files = fs.readdirSync(path.join(dataDir, 'outbox'));
  expect(files).toHaveLength(1);
  expect(files[0]).toMatch(/\.eml$/);
  const eml = fs.readFileSync(path.join(dataDir, 'outbox', files[0]), 'utf8');
  expect(eml).toMatch(/^Subject: \[SPN01\] Test wf-7:run-1:no-scans$/m);
  expect(eml).toMatch(/^To: ada@example.org, bo@example.org$/m);
  mailer.close();
});

test('the checked-in migrations create the sent_email table the entity describes', async () => {
  const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });
  expect(diff).not.toMatch(/sent_email/);
});

describe('sendMonitorEmail: composed from the session where it is sent', () => {
  const sessionId = 'SPN01_CMH_0042_01_01';
  beforeAll(async () => {
    await seedSession(orm, sessionId);
  });

  test('composes the email from the database and sends it once per key; the answer carries counts only', async () => {
    const { sendMonitorEmail } = createMonitorActivities(deps);
    const request = { kind: 'no-scans', key: 'wf-12:run-1:no-scans', sessionId, waitedMs: 2 * 86_400_000 } as const;
    expect(await sendMonitorEmail(request)).toEqual({ sent: true, recipients: 2 });
    expect(await sendMonitorEmail(request)).toEqual({ sent: true, recipients: 2, alreadySent: true });
    expect(smtp.messages).toHaveLength(1);
    expect(smtp.messages[0].subject).toBe(`[SPN01] No scan data received for ${sessionId}`);
    expect(smtp.messages[0].text).toContain('after waiting 2 days');
    expect(smtp.messages[0].text).toContain('Scanned: 2026-11-20');
  });

  test('a session whose monitoring was cancelled gets none (MonitoringCancelled), unless it was sent before', async () => {
    const { sendMonitorEmail } = createMonitorActivities(deps);
    const sentBefore = { kind: 'download-gave-up', key: 'wf-10:run-1:download-gave-up', sessionId } as const;
    await sendMonitorEmail({ ...sentBefore, windowMs: 3_600_000, endTime: '2026-12-01T00:00:00Z', attempts: 2 });
    await recordMonitorsCancelled(orm.em.fork() as EntityManager, sessionId, 'withdrawn');
    const refused = await sendMonitorEmail({ kind: 'no-scans', key: 'wf-11:run-1:no-scans', sessionId }).catch(
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ApplicationFailure);
    expect(refused).toMatchObject({
      type: 'MonitoringCancelled',
      nonRetryable: true,
      details: [{ reason: 'withdrawn' }],
    });
    // An earlier attempt sent it (and died before saying so): the retry says sent, as the monitor's outcome must.
    expect(await sendMonitorEmail(sentBefore)).toEqual({ sent: true, recipients: 2, alreadySent: true });
    expect(smtp.messages).toHaveLength(1);
    expect(await orm.em.fork().count(SentEmail, { key: 'wf-11:run-1:no-scans' })).toBe(0);
  });
});
