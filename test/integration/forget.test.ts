/**
 * `npm run cli -- forget` on the real database: a participant's stored REDCap fields, their sessions' date and texts
 * and their emails' subject and recipients are removed, ids kept; the Temporal histories that hold the ids are listed.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { EmptySession, RedcapRecord, Session } from '../../src/db/entities';
import { SentEmail } from '../../src/db/sent-email';
import type { Orm } from '../../src/db/orm';
import { createTestDatabase } from '../support/db';
import { seedLab, seedSession, uniqueSessionId } from '../support/lab';
import { runCli } from '../support/processes';
import { connectDevServer, devServerAddress } from '../support/temporal';

let orm: Orm;
let url: string;
let configId: number;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
const em = () => orm.em.fork() as EntityManager;

beforeAll(async () => {
  ({ orm, url } = await createTestDatabase());
  ({ redcapConfigId: configId } = await seedLab(orm));
  temporal = await connectDevServer();
});
afterAll(async () => {
  await temporal?.close();
  await orm?.close();
});

/** A session filed from a REDCap record with a comment and a user, a dismissal, and two emails about it. */
async function participant(n: number) {
  const sessionId = uniqueSessionId('CMH', n);
  const { recordId } = await seedSession(orm, sessionId);
  const tx = em();
  const record = await tx.findOneOrFail(RedcapRecord, recordId!);
  Object.assign(record, { comment: `Participant ${n} felt dizzy`, user: `ra${n}` });
  const session = await tx.findOneOrFail(Session, sessionId);
  session.monitorsCancelReason = `participant ${n} withdrew`;
  tx.create(EmptySession, { session, comment: `participant ${n} withdrew`, user: 'Ada Admin' });
  tx.create(SentEmail, {
    key: `scan-import:${sessionId}:run:no-scans`,
    kind: 'no-scans',
    sessionId,
    subject: `[SPN01] No scan data received for ${sessionId}`,
    recipients: 'ada@example.org',
    error: 'mailbox ada@example.org full',
  });
  const intakeId = `redcap-intake:${configId}:${record.record}`;
  tx.create(SentEmail, {
    key: `${intakeId}:run:intake-failed`,
    kind: 'intake-failed',
    subject: `REDCap record ${record.record} could not be filed`,
    recipients: 'ada@example.org',
  });
  await tx.flush();
  return { sessionId, record: record.record, recordId: record.id, intakeId };
}

const forget = (args: string[]) =>
  runCli(['forget', ...args], { DATABASE_URL: url, TEMPORAL_ADDRESS: devServerAddress(), LOG_LEVEL: 'silent' });

async function expectForgotten(p: Awaited<ReturnType<typeof participant>>) {
  expect(await em().findOneOrFail(RedcapRecord, p.recordId)).toMatchObject({
    record: p.record,
    sessionName: p.sessionId,
    comment: '',
    user: null,
    entryDate: null,
  });
  expect(await em().findOneOrFail(Session, p.sessionId)).toMatchObject({ date: null, monitorsCancelReason: null });
  expect(await em().findOneOrFail(EmptySession, { session: p.sessionId })).toMatchObject({ comment: '', user: null });
  // The ledger keeps its keys (no email is sent twice), without their text.
  const emails = await em().find(SentEmail, {
    $or: [{ sessionId: p.sessionId }, { key: `${p.intakeId}:run:intake-failed` }],
  });
  expect(emails).toHaveLength(2);
  for (const email of emails) expect(email).toMatchObject({ subject: '', recipients: '', error: null });
}

test("by REDCap record: its fields, its session's, its emails; the histories that hold its ids are listed", async () => {
  const p = await participant(1);
  const other = await participant(2);
  // A monitor of the session exists in Temporal (no worker runs it here: it just waits).
  const monitorId = `scan-import:${p.sessionId}`;
  await temporal.client.workflow.start('ScanImportWorkflow', {
    workflowId: monitorId,
    taskQueue: `forget-${randomUUID()}`,
    args: [{ sessionId: p.sessionId }],
  });
  try {
    const result = await forget(['--config', String(configId), p.record]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `forgot REDCap record ${p.record} of config ${configId}: its comment, scan date and user`,
    );
    expect(result.stdout).toContain(`forgot session ${p.sessionId}: its date, cancel reason and no-scans comment`);
    expect(result.stdout).toContain('cleared the subject, recipients and error of 2 emails');
    expect(result.stdout).toMatch(
      /Temporal histories that hold these ids \(a closed workflow's history is kept for \d+ days/,
    );
    expect(result.stdout).toContain(`  ${monitorId}: RUNNING`);
    expect(result.stdout).not.toContain(`scan-download:${p.sessionId}`); // never started: nothing holds it
    expect(result.stdout).toContain(`the runs of schedule redcap-reconcile:${configId}`);
    await expectForgotten(p);
    // Nothing of anyone else.
    expect(await em().findOneOrFail(RedcapRecord, other.recordId)).toMatchObject({
      comment: 'Participant 2 felt dizzy',
      user: 'ra2',
    });
    expect((await em().findOneOrFail(Session, other.sessionId)).date).toBe('2026-11-20');
    expect((await em().find(SentEmail, { sessionId: other.sessionId }))[0].subject).toContain(other.sessionId);
    expect((await em().findOneOrFail(SentEmail, { key: `${other.intakeId}:run:intake-failed` })).subject).not.toBe('');
    // Again: nothing left to remove, the same report.
    expect((await forget(['--config', String(configId), p.record])).code).toBe(0);
  } finally {
    await temporal.client.workflow
      .getHandle(monitorId)
      .terminate('forget test done')
      .catch(() => undefined);
  }
});

test('by session: the session and the record filed against it', async () => {
  const p = await participant(3);
  const result = await forget(['--session', p.sessionId.toLowerCase()]);
  expect(result.code).toBe(0);
  expect(result.stdout).toContain(`forgot REDCap record ${p.record} of config ${configId}`);
  await expectForgotten(p);
});

test('an unknown record or session, or both ways at once: exit 1 with one line', async () => {
  for (const args of [
    ['--config', String(configId), 'no-such-record'],
    ['--session', 'SPN01_CMH_9999_01_01'],
    ['--config', String(configId)],
    ['--session', 'SPN01_CMH_9999_01_01', '--config', String(configId), 'x'],
  ]) {
    const result = await forget(args);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      /^error: (No REDCap record no-such-record|No session SPN01_CMH_9999_01_01|forget takes either)/,
    );
  }
});
