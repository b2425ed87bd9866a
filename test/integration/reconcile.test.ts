/**
 * Reconciliation end to end on the suite's dev server: the schedule `redcap-reconcile:<configId>` runs
 * RedcapReconcileWorkflow (a real worker) against the fake REDCap (its clock hours behind ours), which starts the
 * intakes no trigger announced; PostgreSQL, a real SMTP server; `npm run cli -- reconcile` as a child process.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowFailedError } from '@temporalio/client';
import pino from 'pino';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createReconcileActivities, type ReconcileProgress } from '../../activities/reconcile';
import { loadConfig, type Config } from '../../src/config';
import { RedcapConfig, RedcapRecord, ReconcileState, Site, Study, StudySite, User } from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { missedTriggersTotal } from '../../src/metrics';
import { startRedcapIntake } from '../../src/temporal/intakes';
import { syncReconcileSchedules, type ScheduleSettings } from '../../src/temporal/schedules';
import {
  REDCAP_RECONCILE_WORKFLOW,
  redcapIntakeWorkflowId,
  redcapReconcileScheduleId,
  type RedcapReconcileInput,
  type RedcapReconcileResult,
} from '../../surface';
import { createTestDatabase } from '../support/db';
import { FakeRedcap } from '../support/fake-redcap';
import { smallLabConfig } from '../support/lab-config';
import { eventually, runCli } from '../support/processes';
import { freeEmailHour } from '../support/lab';
import { releaseStarters } from '../support/releases';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp';
import { connectDevServer } from '../support/temporal';
import { startTestWorker, type TestWorker } from '../support/worker';

jest.setTimeout(240_000);

const TOKEN = 'C0FFEEC0FFEEC0FFEEC0FFEEC0FFEE00';
/** Subjects unique to this run: monitor ids (scan-import:<SESSION>) are global on the shared dev server. */
const RUN = randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase();
const sessionOf = (n: number) => `SPN01_CMH_${RUN}${n}_01_01`;
/** The REDCap server's clock: 10 hours behind ours. */
const REDCAP_UTC_OFFSET_MINUTES = -600;

let orm: Orm;
let dbUrl: string;
let fake: FakeRedcap;
let smtp: TestSmtpServer;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let worker: TestWorker;
let config: Config;
let redcap: RedcapConfig;
const logLines: string[] = [];
const em = () => orm.em.fork() as EntityManager;
const settings = (intervalMs: number | null): ScheduleSettings => ({ taskQueue: config.taskQueue, intervalMs });

function row(record: string, session: string, changes: Record<string, string> = {}): Record<string, string> {
  return {
    record_id: record,
    session_id: session,
    scan_date: '2026-11-20',
    comments: `scan log of record ${record}`,
    ra_id: '42',
    mri_scan_log_complete: '2',
    ...changes,
  };
}

function redcapConfig(project: number, instrument: string) {
  const fields = { sessionField: 'session_id', dateField: 'scan_date', commentField: 'comments', userField: 'ra_id' };
  return {
    url: fake.url,
    project,
    instrument,
    version: '14.5.2',
    token: TOKEN,
    ...fields,
    completedField: `${instrument}_complete`,
    completedValue: '2',
  };
}

const filedRecords = async () =>
  (await em().find(RedcapRecord, { config: redcap.id }, { orderBy: { record: 'asc' } })).map((r) => r.record);
const mailsAbout = (text: string) => smtp.messages.filter((mail) => mail.subject.includes(text));
const missedMetric = async () =>
  (await missedTriggersTotal.get()).values.find((v) => v.labels.config === String(redcap.id))?.value ?? 0;

/** One reconciliation now, as `npm run cli -- reconcile` starts it. */
function reconcileNow(input: Partial<RedcapReconcileInput> = {}): Promise<RedcapReconcileResult> {
  return temporal.client.workflow.execute(REDCAP_RECONCILE_WORKFLOW, {
    taskQueue: config.taskQueue,
    workflowId: `${redcapReconcileScheduleId(redcap.id)}-test-${randomUUID()}`,
    args: [{ configId: redcap.id, ...input }],
  });
}

/** The runs the schedule has finished (since `after`), oldest first: their results, or their failures. */
async function scheduledRuns(
  after = new Date(0),
): Promise<Array<{ result?: RedcapReconcileResult; failure?: string }>> {
  const query = `TemporalScheduledById="${redcapReconcileScheduleId(redcap.id)}" AND ExecutionStatus!="Running"`;
  const executions = [];
  for await (const execution of temporal.client.workflow.list({ query }))
    if (execution.startTime > after) executions.push(execution);
  executions.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  return Promise.all(
    executions.map((execution) =>
      temporal.client.workflow
        .getHandle(execution.workflowId, execution.runId)
        .result()
        .then(
          (result: RedcapReconcileResult) => ({ result }),
          (err: unknown) => ({
            failure: err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : String(err),
          }),
        ),
    ),
  );
}

beforeAll(async () => {
  let url: string;
  ({ orm, url } = await createTestDatabase());
  dbUrl = url;
  fake = await FakeRedcap.start();
  smtp = await startSmtpServer();
  temporal = await connectDevServer();
  config = loadConfig({
    TEMPORAL_TASK_QUEUE: `reconcile-${RUN}`,
    SMTP_URL: smtp.url,
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reconcile-data-')),
    RECONCILE_INTERVAL: '2s',
    RECONCILE_LOOKBACK: '1 day',
  });
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });

  // Config ids of our own: intake and schedule ids (redcap-intake:<configId>:…) are global on the shared dev server.
  await orm.em
    .getConnection()
    .execute(`select setval('redcap_config_id_seq', ${100_000 + Math.floor(Math.random() * 800_000)})`);
  const seed = em();
  const study = seed.create(Study, { id: 'SPN01', name: 'Social Processes Network' });
  seed.create(StudySite, { study, site: seed.create(Site, { id: 'CMH' }), code: 'SPN01', usesRedcap: true });
  seed.create(StudySite, { study, site: seed.create(Site, { id: 'ZHH' }), code: 'SPN01', usesRedcap: true }); // as in smallLabConfig
  seed.create(User, { name: 'Ada Admin', email: 'ada@example.org', admin: true });
  redcap = seed.create(RedcapConfig, redcapConfig(1234, 'mri_scan_log'));
  await seed.flush();
  fake.addProject({ token: TOKEN, records: [], utcOffsetMinutes: REDCAP_UTC_OFFSET_MINUTES });

  worker = await startTestWorker({ config, orm, server: temporal, logger });
});

afterAll(async () => {
  for (const { id } of orm ? await em().find(RedcapConfig, {}) : []) {
    await temporal.client.schedule
      .getHandle(redcapReconcileScheduleId(id))
      .delete()
      .catch(() => undefined);
  }
  for await (const execution of temporal.client.workflow.list({
    query: `TaskQueue="${config.taskQueue}" AND ExecutionStatus="Running"`,
  })) {
    await temporal.client.workflow
      .getHandle(execution.workflowId)
      .terminate('reconcile test done')
      .catch(() => undefined);
  }
  await worker?.stop();
  await temporal?.close();
  await smtp?.close();
  await fake?.close();
  await orm?.close();
});

afterEach(() => fake.heal());

test('the schedule files records completed with no trigger within one interval; incomplete ones stay out; unchanged ones start nothing', async () => {
  fake.saveRow(TOKEN, row('1', sessionOf(1)));
  fake.saveRow(TOKEN, row('2', sessionOf(2), { mri_scan_log_complete: '1' }));
  fake.saveRow(TOKEN, row('3', 'not a session id'));
  expect(await syncReconcileSchedules(temporal.client, settings(2_000), [redcap])).toEqual([
    { scheduleId: `redcap-reconcile:${redcap.id}`, action: 'created', detail: 'every 2 seconds' },
  ]);

  await eventually(async () => (await filedRecords()).includes('1'), 'record 1 to be filed by a scheduled run', 60_000);
  // Record 3 names no session: its intake fails and emails once; later runs leave it be.
  await eventually(
    () => mailsAbout('REDCap record 3 could not be filed').length === 1,
    'the email about record 3',
    60_000,
  );
  await eventually(
    async () => (await scheduledRuns()).filter((run) => run.result?.started === 0).length >= 3,
    'three more runs that start nothing',
    60_000,
  );

  const runs = await scheduledRuns();
  expect(runs.every((run) => run.result)).toBe(true);
  expect(runs[0].result).toEqual({ checked: 3, started: 2, unchanged: 0 });
  for (const run of runs.slice(1)) expect(run.result).toEqual({ checked: 3, started: 0, unchanged: 2 });
  expect(await filedRecords()).toEqual(['1']);
  expect(mailsAbout('REDCap record 3 could not be filed')).toHaveLength(1);
  const missed = mailsAbout('arrived without a Data Entry Trigger');
  expect(missed).toHaveLength(1);
  expect(missed[0].subject).toBe('REDCap project 1234 (mri_scan_log): 2 records arrived without a Data Entry Trigger');
  expect(missed[0].text).toMatch(/^ {2}1$/m);
  expect(missed[0].text).toMatch(/^ {2}3$/m);
  expect(missed[0].text).toContain('Project Setup');
  expect(await missedMetric()).toBe(2);
  expect(logLines.filter((line) => line.includes('reached us without a Data Entry Trigger'))).toHaveLength(2);

  // The RA corrects record 3 in REDCap (no trigger reaches us): the next run files it; no second email today.
  fake.saveRow(TOKEN, row('3', sessionOf(3)));
  await eventually(async () => (await filedRecords()).includes('3'), 'record 3 to be filed once corrected', 60_000);
  expect(mailsAbout('arrived without a Data Entry Trigger')).toHaveLength(1);
  expect(mailsAbout('could not be filed')).toHaveLength(1);
  expect(await missedMetric()).toBe(3);
  // …and what it found is kept for the digest, per run.
  expect(await em().getConnection().execute(`select sum(count)::int as n from missed_triggers`)).toEqual([{ n: 3 }]);

  // The schedule as the Web UI shows it.
  const schedule = await temporal.client.schedule.getHandle(redcapReconcileScheduleId(redcap.id)).describe();
  expect(schedule.memo).toMatchObject({
    configId: redcap.id,
    project: 1234,
    instrument: 'mri_scan_log',
    redcapUrl: fake.url,
  });
  expect(schedule.policies.overlap).toBe('SKIP');
  expect(schedule.action).toMatchObject({
    workflowType: 'RedcapReconcileWorkflow',
    taskQueue: config.taskQueue,
    args: [{ configId: redcap.id }],
  });
});

test('REDCap refusing the token or answering 5xx fails that run with the reason; the schedule goes on', async () => {
  const before = new Date();
  fake.forbid();
  await eventually(async () => (await scheduledRuns(before)).some((run) => run.failure), 'a failed run', 60_000);
  fake.heal();
  await eventually(
    async () => (await scheduledRuns(before)).at(-1)?.result !== undefined,
    'a good run after it',
    60_000,
  );
  const failed = (await scheduledRuns(before)).find((run) => run.failure)!;
  expect(failed.failure).toMatch(
    /^Reconciliation of REDCap config \d+ failed: .*REDCap answered 403: You do not have permissions to use the API/,
  );
  expect(failed.failure).not.toContain(TOKEN);
  await temporal.client.schedule.getHandle(redcapReconcileScheduleId(redcap.id)).pause('test: the schedule is done');

  fake.failNext(100, 503);
  const err = await reconcileNow().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause?.message).toMatch(/REDCap answered 503/);
  expect(
    logLines.some((line) => line.includes('"msg":"reconciliation failed"') || line.includes('REDCap answered 503')),
  ).toBe(true);
});

test("a record whose trigger's intake failed is not started again while it has not changed", async () => {
  await freeEmailHour(orm); // record 3's failure had the config's hour of failed-intake emails
  fake.saveRow(TOKEN, row('4', 'SPN01_CMH_nonsense'));
  const workflowId = redcapIntakeWorkflowId(redcap.id, '4');
  // The trigger arrived (as POST /redcap starts it): the intake fails and emails once.
  await startRedcapIntake(temporal.client, config.taskQueue, redcap, { configId: redcap.id, record: '4' });
  await expect(temporal.client.workflow.getHandle(workflowId).result()).rejects.toThrow();
  const { runId } = await temporal.client.workflow.getHandle(workflowId).describe();

  expect(await reconcileNow()).toEqual({ checked: 4, started: 0, unchanged: 3 }); // record 2 is not completed
  expect((await temporal.client.workflow.getHandle(workflowId).describe()).runId).toBe(runId);
  await eventually(() => mailsAbout('REDCap record 4 could not be filed').length === 1, 'the email about record 4');
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // a second one would come now, if at all
  expect(mailsAbout('REDCap record 4 could not be filed')).toHaveLength(1);
});

test('--since: a backfill finds what changed long ago; a run that does not reach back to the last one does not count as one', async () => {
  const reconciledUntil = async () =>
    (await em().findOneOrFail(ReconcileState, { config: redcap.id })).reconciledUntil.getTime();
  // Record 5 was completed two days ago, long before the last run.
  fake.saveRow(TOKEN, row('5', sessionOf(5)), new Date(Date.now() - 2 * 86_400_000));
  expect((await reconcileNow()).started).toBe(0);
  const backfill = await reconcileNow({ since: new Date(Date.now() - 3 * 86_400_000).toISOString() });
  expect(backfill).toEqual({ checked: 5, started: 1, unchanged: 3 });
  await eventually(async () => (await filedRecords()).includes('5'), 'record 5 to be filed');

  const until = await reconciledUntil();
  await reconcileNow({ since: new Date(Date.now() + 60_000).toISOString() });
  expect(await reconciledUntil()).toBe(until);
  await reconcileNow();
  expect(await reconciledUntil()).toBeGreaterThan(until);
});

test('the schedules follow the configs: created, updated, paused while off, left paused by hand, deleted with their config', async () => {
  const seed = em();
  const other = seed.create(RedcapConfig, redcapConfig(4321, 'scan_visit'));
  await seed.flush();
  const scheduleId = redcapReconcileScheduleId(other.id);
  const handle = temporal.client.schedule.getHandle(scheduleId);
  const sync = async (intervalMs: number | null, configs = [redcap, other]) =>
    (await syncReconcileSchedules(temporal.client, settings(intervalMs), configs)).find(
      (change) => change.scheduleId === scheduleId,
    );

  expect(await sync(3_600_000)).toEqual({ scheduleId, action: 'created', detail: 'every 1 hour' });
  const created = await handle.describe();
  expect(created.spec.intervals?.map((interval) => interval.every)).toEqual([3_600_000]);
  expect(created.memo).toEqual({
    configId: other.id,
    redcapUrl: fake.url,
    project: 4321,
    instrument: 'scan_visit',
    taskQueue: config.taskQueue,
  });
  expect(await sync(3_600_000)).toMatchObject({ action: 'unchanged' });
  expect(await sync(1_800_000)).toEqual({ scheduleId, action: 'updated', detail: 'every 30 minutes' });
  expect((await handle.describe()).spec.intervals?.[0].every).toBe(1_800_000);

  expect(await sync(null)).toEqual({ scheduleId, action: 'paused', detail: 'RECONCILE_INTERVAL is off' });
  expect((await handle.describe()).state).toMatchObject({ paused: true, note: 'Paused: RECONCILE_INTERVAL is off' });
  expect(await sync(null)).toMatchObject({ action: 'unchanged' });
  expect(await sync(1_800_000)).toMatchObject({ action: 'unpaused' });
  expect((await handle.describe()).state.paused).toBe(false);

  await handle.pause('maintenance by Ada');
  expect(await sync(1_800_000)).toEqual({
    scheduleId,
    action: 'unchanged',
    detail: 'every 30 minutes; paused by hand: maintenance by Ada',
  });
  expect((await handle.describe()).state.paused).toBe(true);

  // The config goes away (deleted from the database): the next sync deletes its schedule (found through the listing).
  await em().nativeDelete(RedcapConfig, { id: other.id });
  await eventually(
    async () => (await sync(1_800_000, [redcap]))?.action === 'deleted',
    'the schedule of the deleted config to go',
  );
  await expect(handle.describe()).rejects.toThrow(/not found/i);
});

test('the pages of a big window: REDCap asked 100 records at a time; a retry goes on from the last heartbeat', async () => {
  // A project of its own (its rows stay out of the other tests' counts): 450 records, none completed.
  const token = 'B16B16B16B16B16B16B16B16B16B1600';
  const seed = em();
  const big = seed.create(RedcapConfig, { ...redcapConfig(5555, 'mri_scan_log'), token });
  await seed.flush();
  const names = Array.from({ length: 450 }, (_, i) => `R${String(i).padStart(4, '0')}`);
  fake.addProject({ token, records: names.map((name) => row(name, sessionOf(9), { mri_scan_log_complete: '0' })) });
  const activities = createReconcileActivities({
    config,
    orm,
    logger: pino({ level: 'silent' }),
    temporal: temporal.client,
    mailer: worker.deps.mailer,
  });
  const begun: ReconcileProgress = await new MockActivityEnvironment().run(activities.beginReconcile, {
    configId: big.id,
  });
  // Pages ask for some fields of records[0]…; the intakes' calls ask for whole records.
  const pagesAsked = (from: number) =>
    fake.calls
      .slice(from)
      .filter((call) => call.params['records[0]'] !== undefined && call.params['fields[0]'] !== undefined)
      .map((call) => call.params['records[0]']);

  const calls = fake.calls.length;
  const whole = new MockActivityEnvironment();
  const heartbeats: ReconcileProgress[] = [];
  whole.on('heartbeat', (progress: ReconcileProgress) => heartbeats.push(progress));
  const done: ReconcileProgress = await whole.run(activities.reconcileRecords, { configId: big.id, progress: begun });
  expect(done.totals).toEqual({ checked: 450, started: 0, unchanged: 0 });
  expect(done.after).toBe('R0449');
  expect(pagesAsked(calls)).toEqual(['R0000', 'R0100', 'R0200', 'R0300', 'R0400']);
  expect(heartbeats.map((progress) => progress.after)).toEqual(expect.arrayContaining(['R0399', 'R0449']));

  // A retry after the first round: only the rest is read, and the counts go on from the checkpoint.
  const checkpoint = heartbeats.find((progress) => progress.after === 'R0399');
  const retried = fake.calls.length;
  const again: ReconcileProgress = await new MockActivityEnvironment({ heartbeatDetails: checkpoint }).run(
    activities.reconcileRecords,
    { configId: big.id, progress: begun },
  );
  expect(again.totals).toEqual({ checked: 450, started: 0, unchanged: 0 });
  expect(pagesAsked(retried)).toEqual(['R0400']);
});

describe('failed intakes, judged by what they decided (a project of its own)', () => {
  const token = 'D00DD00DD00DD00DD00DD00DD00DD00D';
  let other: RedcapConfig;
  const reconcileOther = () => reconcileNow({ configId: other.id });
  const intakeOf = (record: string, instance?: number) =>
    temporal.client.workflow.getHandle(redcapIntakeWorkflowId(other.id, record, null, instance));
  const filedOf = async () =>
    (await em().find(RedcapRecord, { config: other.id }, { orderBy: { record: 'asc' } })).map((r) => r.record);

  beforeAll(async () => {
    const seed = em();
    other = seed.create(RedcapConfig, { ...redcapConfig(6001, 'mri_scan_log'), token });
    await seed.flush();
    fake.addProject({ token, records: [] });
  });

  test('a repeat instance whose intake failed reading it is not started again while it has not changed (issue 22 item 5)', async () => {
    // A repeating instrument: the intake names the record "8 (instance 2)", reconciliation the row 8 #2.
    fake.saveRow(token, { ...row('8', ''), redcap_repeat_instrument: 'mri_scan_log', redcap_repeat_instance: 2 });
    await startRedcapIntake(temporal.client, config.taskQueue, other, { configId: other.id, record: '8', instance: 2 });
    await expect(intakeOf('8', 2).result()).rejects.toThrow();
    const { runId } = await intakeOf('8', 2).describe();
    await eventually(() => mailsAbout('REDCap record 8 (instance 2) could not be filed').length === 1, 'the email');

    expect(await reconcileOther()).toEqual({ checked: 1, started: 0, unchanged: 1 });
    expect((await intakeOf('8', 2).describe()).runId).toBe(runId);
    expect(mailsAbout('REDCap record 8 (instance 2) could not be filed')).toHaveLength(1);

    // Corrected in REDCap: now it differs from what the failed intake refused, and is filed.
    fake.saveRow(token, {
      ...row('8', sessionOf(8)),
      redcap_repeat_instrument: 'mri_scan_log',
      redcap_repeat_instance: 2,
    });
    expect(await reconcileOther()).toEqual({ checked: 1, started: 1, unchanged: 0 });
    await eventually(async () => (await filedOf()).includes('8'), 'record 8 #2 to be filed');
  });

  test('a trigger whose filing gave up (the database refusing it for the whole time limit) is started again (issue 22 item 4)', async () => {
    fake.saveRow(token, row('9', sessionOf(9)));
    const sql = (query: string) => orm.em.getConnection().execute(query);
    await sql(`create function refuse_record_9() returns trigger language plpgsql as $$
               begin if new.record = '9' then raise exception 'not now' using errcode = '40001'; end if; return new; end $$`);
    await sql(
      `create trigger refuse_record_9 before insert on redcap_record for each row execute function refuse_record_9()`,
    );
    try {
      // As a trigger starts it, with a short time limit (an input; a day by default).
      await startRedcapIntake(temporal.client, config.taskQueue, other, {
        configId: other.id,
        record: '9',
        fetchTimeout: '5 seconds',
      });
      const failure = await intakeOf('9')
        .result()
        .then(
          () => undefined,
          (err: unknown) => (err as WorkflowFailedError).cause,
        );
      expect(failure).toMatchObject({ type: 'IntakeTimedOut' });
      expect(fake.callsFor('record', '9').length).toBeGreaterThan(1); // it read the row, every attempt
    } finally {
      await sql(`drop trigger refuse_record_9 on redcap_record`);
      await sql(`drop function refuse_record_9()`);
    }
    expect(await filedOf()).not.toContain('9');
    // The intake read the row but decided nothing about it: the next reconciliation files it.
    expect(await reconcileOther()).toMatchObject({ started: 1 });
    await eventually(async () => (await filedOf()).includes('9'), 'record 9 to be filed');
  });

  test('an intake started before 0.3.0 under the old id and still running is found: no second one (issue 22 item 6)', async () => {
    fake.saveRow(token, row('M#1', sessionOf(10)));
    // As 0.2.0 started it (the parts as sent in the id), on a task queue no worker serves: it stays running.
    const { startReleaseIntake } = releaseStarters('0.2.0');
    const legacy = await startReleaseIntake(
      temporal.client,
      `${config.taskQueue}-nobody`,
      { configId: other.id, record: 'M#1' },
      { redcapUrl: fake.url, project: 6001, instrument: 'mri_scan_log' },
    );
    expect(legacy.workflowId).toBe(`redcap-intake:${other.id}:M#1`);
    expect(await reconcileOther()).toMatchObject({ started: 0 });
    await expect(intakeOf('M#1').describe()).rejects.toThrow(/not found/i);

    await temporal.client.workflow.getHandle(legacy.workflowId).terminate('test: the old worker is gone');
    expect(await reconcileOther()).toMatchObject({ started: 1 });
    expect(intakeOf('M#1').workflowId).toBe(`redcap-intake:${other.id}:M%231`);
    await eventually(async () => (await filedOf()).includes('M#1'), 'record M#1 to be filed under the new id');
  });
});

describe('npm run cli -- reconcile', () => {
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli(args, {
      DATABASE_URL: dbUrl,
      TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS ?? '',
      TEMPORAL_TASK_QUEUE: config.taskQueue,
      DATA_DIR: config.dataDir,
      ...env,
    });

  test('one run now, its counts printed', async () => {
    fake.saveRow(TOKEN, row('6', sessionOf(6)));
    // Records 1 to 4 and 6 changed within the hour (record 5 two days ago); record 2 is not completed.
    const result = await cli([
      'reconcile',
      '--config',
      String(redcap.id),
      '--since',
      new Date(Date.now() - 3_600_000).toISOString(),
    ]);
    expect(result.stderr).toContain(`reconciling as workflow redcap-reconcile:${redcap.id}-cli-`);
    expect({ code: result.code, stdout: result.stdout }).toEqual({
      code: 0,
      stdout: expect.stringMatching(
        new RegExp(
          `^config ${redcap.id} \\(project 1234 mri_scan_log at ${fake.url}\\): checked 5, started 1, unchanged 3 \\(\\d+\\.\\d s\\)\\n$`,
        ),
      ),
    });
    await eventually(async () => (await filedRecords()).includes('6'), 'record 6 to be filed');
  });

  test('config apply brings the schedules in step', async () => {
    const file = path.join(config.dataDir, 'lab.yml');
    fs.writeFileSync(file, smallLabConfig(fake.url, TOKEN));
    const result = await cli(['config', 'apply', file]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(`nothing changed`);
    // The schedule follows RECONCILE_INTERVAL (here the default, 1 hour); the pause made by hand stays.
    expect(result.stdout).toMatch(
      new RegExp(
        `^schedule redcap-reconcile:${redcap.id}: updated \\(every 1 hour; paused by hand: test: the schedule is done\\)$`,
        'm',
      ),
    );

    // Temporal away: the database part is done all the same, and the operator is told.
    const away = await cli(['config', 'apply', file], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(away).toMatchObject({ code: 0, stdout: expect.stringContaining('nothing changed') });
    expect(away.stderr).toMatch(
      /^warning: reconciliation, XNAT sync and digest schedules not updated: cannot reach Temporal at 127\.0\.0\.1:1 .*; npm start and npm run worker update them when they start\n$/,
    );
  });

  test('bad arguments name the problem', async () => {
    expect(await cli(['reconcile', '--since', 'yesterday'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('"yesterday" is not an ISO time'),
    });
    expect(await cli(['reconcile', '--config', 'x'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('"x" is not a REDCap config id'),
    });
    const ids = (await em().find(RedcapConfig, {}, { orderBy: { id: 'asc' } })).map((known) => known.id).join(', ');
    expect(await cli(['reconcile', '--config', '99'])).toMatchObject({
      code: 1,
      stderr: `error: no REDCap config 99 (the REDCap configs: ${ids})\n`,
    });
  });
});
