/**
 * `npm run cli -- forget` on the real database: a participant's stored REDCap fields, the details of their failed
 * intakes and problems, their sessions' date, comments and job output, and their emails' subject and recipients (sent
 * or held) are removed, ids kept; the Temporal histories that hold the ids are listed.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { EmptySession, RedcapConfig, RedcapRecord, Session } from '../../src/db/entities';
import { IntakeFailure } from '../../src/db/intake-failure';
import { JobRun } from '../../src/db/job-run';
import { HeldEmail, Problem, SessionDismissal } from '../../src/db/lab-data';
import { SentEmail } from '../../src/db/sent-email';
import { intakeProblemKey } from '../../src/lab-data/problems';
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

/**
 * A session filed from a REDCap record with a comment and a user, a dismissal, a job that printed something, two emails
 * about it and one held back; a failed intake of the record and its problem, and a problem of another record typed
 * with the session's id.
 */
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
  tx.create(HeldEmail, {
    key: `${intakeId}:run2:intake-failed`,
    kind: 'intake-failed',
    scope: `redcap-config:${configId}:intake-failed`,
    subject: `REDCap record ${record.record} could not be filed`,
  });
  tx.create(SessionDismissal, {
    sessionId,
    kind: 'no-redcap-expected',
    comment: `participant ${n} scanned twice`,
    createdBy: 'Ada Admin',
  });
  tx.create(JobRun, {
    sessionId,
    kind: 'download',
    command: `download.sh SPN01 ${sessionId}`,
    workflowId: `scan-download:${sessionId}`,
    runId: 'run',
    attempt: 1,
    host: 'worker',
    status: 'failed',
    detail: `no such subject: participant ${n}`,
  });
  const failure = tx.create(IntakeFailure, {
    config: tx.getReference(RedcapConfig, configId),
    record: record.record,
    workflowId: intakeId,
    runId: `run2-${sessionId}`,
    read: 1,
    type: 'RedcapFieldInvalid',
    detail: `the scan date "${n} days after the visit" is not a date`,
  });
  const problem = tx.create(Problem, {
    key: intakeProblemKey({ configId, record: record.record }),
    kind: 'intake-failed',
    sessionId,
    redcapConfigId: configId,
    record: record.record,
    sessionName: sessionId,
    reason: `the scan date "${n} days after the visit" is not a date`,
  });
  // Another record, typed with this session's id (padded): its problem is pinned on the session.
  const pinned = tx.create(Problem, {
    key: intakeProblemKey({ configId, record: `${record.record}-dup` }),
    kind: 'invalid-session-id',
    sessionId,
    redcapConfigId: configId,
    record: `${record.record}-dup`,
    sessionName: ` ${sessionId} (participant ${n})`,
    reason: `session id " ${sessionId} (participant ${n})" fits no convention`,
  });
  await tx.flush();
  return {
    sessionId,
    record: record.record,
    recordId: record.id,
    intakeId,
    failureId: failure.id,
    problemIds: [problem.id, pinned.id],
  };
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
  expect(await em().findOneOrFail(HeldEmail, { key: `${p.intakeId}:run2:intake-failed` })).toMatchObject({
    kind: 'intake-failed',
    subject: '',
  });
  expect(await em().findOneOrFail(SessionDismissal, { sessionId: p.sessionId })).toMatchObject({
    kind: 'no-redcap-expected',
    comment: '',
  });
  expect(await em().findOneOrFail(JobRun, { sessionId: p.sessionId })).toMatchObject({
    status: 'failed',
    detail: null,
  });
  // A failure keeps what identifies it (its run, its kind), a problem its key and session: not what was typed.
  expect(await em().findOneOrFail(IntakeFailure, p.failureId)).toMatchObject({
    record: p.record,
    type: 'RedcapFieldInvalid',
    detail: '',
  });
  for (const problem of await em().find(Problem, { id: { $in: p.problemIds } }))
    expect(problem).toMatchObject({ sessionId: p.sessionId, reason: '', sessionName: null });
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
    expect(result.stdout).toContain(
      `forgot session ${p.sessionId}: its date, cancel reason, no-scans comment, dismissal comments and job output`,
    );
    expect(result.stdout).toContain('cleared the detail of 1 failed intake and the reason of 2 problems');
    expect(result.stdout).toContain('cleared 1 dismissal comment and the output of 1 job');
    expect(result.stdout).toContain(
      'cleared the subject, recipients and error of 2 emails, and the subject of 1 held email',
    );
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
    expect((await em().findOneOrFail(HeldEmail, { key: `${other.intakeId}:run2:intake-failed` })).subject).not.toBe('');
    expect((await em().findOneOrFail(SessionDismissal, { sessionId: other.sessionId })).comment).not.toBe('');
    expect((await em().findOneOrFail(JobRun, { sessionId: other.sessionId })).detail).not.toBeNull();
    expect((await em().findOneOrFail(IntakeFailure, other.failureId)).detail).not.toBe('');
    for (const problem of await em().find(Problem, { id: { $in: other.problemIds } }))
      expect(problem.reason).not.toBe('');
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

test('a record never filed (its session id fits no convention): its failed intake and problem', async () => {
  const record = `never-filed-${randomUUID().slice(0, 8)}`;
  const typedId = `not a session: participant ${record}`;
  const tx = em();
  const failure = tx.create(IntakeFailure, {
    config: tx.getReference(RedcapConfig, configId),
    record,
    workflowId: `redcap-intake:${configId}:${record}`,
    runId: `run-${record}`,
    read: 1,
    type: 'InvalidSessionIdError',
    detail: `session id "${typedId}" fits no convention`,
  });
  const problem = tx.create(Problem, {
    key: intakeProblemKey({ configId, record }),
    kind: 'invalid-session-id',
    redcapConfigId: configId,
    record,
    sessionName: typedId,
    reason: `session id "${typedId}" fits no convention`,
  });
  tx.create(HeldEmail, {
    key: `redcap-intake:${configId}:${record}:run:intake-failed`,
    kind: 'intake-failed',
    scope: `redcap-config:${configId}:intake-failed`,
    subject: `REDCap record ${record} could not be filed`,
  });
  await tx.flush();
  const result = await forget(['--config', String(configId), record]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('cleared the detail of 1 failed intake and the reason of 1 problem');
  expect(result.stdout).toContain('and the subject of 1 held email');
  expect(await em().findOneOrFail(IntakeFailure, failure.id)).toMatchObject({ record, detail: '' });
  expect(await em().findOneOrFail(Problem, problem.id)).toMatchObject({ record, reason: '', sessionName: null });
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
