/**
 * RedcapIntakeWorkflow with stubbed activities on the time-skipping server (test/support/workflow-tests.ts): what
 * filing a record leads to (monitors started, or not again, a moved record's old monitors cancelled), the re-read
 * after `recordSaved`, and the one email of a failed intake. The same with the real activities, REDCap (fake),
 * database and SMTP server: test/integration/redcap-intake.test.ts.
 */
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { FiledRecord } from '../../activities/intake';
import {
  recordSavedSignal,
  SessionIdAttribute,
  SiteIdAttribute,
  StudyIdAttribute,
  type RedcapIntakeInput,
  type StartedMonitors,
} from '../../surface';
import { RedcapIntakeWorkflow } from '../../workflows';
import { gate, waitFor, workflowTests } from '../support/workflow-tests';

const SESSION = 'SPN01_CMH_0001_01_01';
const filed: FiledRecord = {
  sessionId: SESSION,
  studyId: 'SPN01',
  siteId: 'CMH',
  downloadScript: null,
  redcapRecordId: 7,
  sessionCreated: true,
  change: 'created',
  monitorsDue: true,
};
const monitors = (sessionId: string): StartedMonitors => ({
  scanImport: { workflowId: `scan-import:${sessionId}`, runId: 'run-1' },
});

const wf = workflowTests({
  readAndFileRedcapRecord: async () => filed,
  startMonitors: async (target) => monitors(target.sessionId),
  cancelMovedSessionMonitors: async () => ({ signalled: [], notRunning: [] }),
  reportFailedIntake: async () => ({ emailed: true }),
});

const input: RedcapIntakeInput = { configId: 3, record: '17' };
const trigger = { configId: 3, record: '17', eventName: null, instance: null };

test.each<[string, Partial<FiledRecord>, string[], Record<string, unknown>]>([
  [
    'a new session: its monitors start',
    {},
    ['readAndFileRedcapRecord', 'startMonitors'],
    { change: 'created', sessionCreated: true, monitors: monitors(SESSION) },
  ],
  [
    'a session whose monitors ran before: none start again',
    { change: 'updated', sessionCreated: false, monitorsDue: false },
    ['readAndFileRedcapRecord'],
    { change: 'updated', sessionCreated: false, monitors: null },
  ],
  [
    'a record moved from another session: the new one is monitored, the old one’s monitors cancelled',
    { change: 'moved', sessionCreated: false, movedFrom: 'SPN01_CMH_0009_01_01' },
    ['readAndFileRedcapRecord', 'startMonitors', 'cancelMovedSessionMonitors'],
    { change: 'moved', sessionCreated: false, movedFrom: 'SPN01_CMH_0009_01_01', monitors: monitors(SESSION) },
  ],
])('filed as %s', async (_, filing, activities, result) => {
  wf.stub({ readAndFileRedcapRecord: async () => ({ ...filed, ...filing }) });
  const handle = await wf.start(RedcapIntakeWorkflow, input);
  expect(await handle.result()).toEqual({ sessionId: SESSION, redcapRecordId: 7, reads: 1, ...result });
  expect(wf.calls().map((call) => call.activity)).toEqual(activities);
  // Read and filed in one activity: the history holds the trigger's ids, never what REDCap holds.
  expect(wf.calls('readAndFileRedcapRecord')[0].args).toEqual([{ ...trigger, read: 1 }]);
  if (filing.movedFrom) {
    expect(wf.calls('cancelMovedSessionMonitors')[0].args).toEqual([{ sessionId: filing.movedFrom, movedTo: SESSION }]);
  }
  // Ops find the intake by its session in the Web UI.
  const described = await handle.describe();
  expect(described.typedSearchAttributes.get(SessionIdAttribute)).toBe(SESSION);
  expect(described.typedSearchAttributes.get(StudyIdAttribute)).toBe('SPN01');
  expect(described.typedSearchAttributes.get(SiteIdAttribute)).toBe('CMH');
  expect(await described.memo).toEqual({ sessionId: SESSION, redcapRecordId: 7 });
  expect(wf.calls('startMonitors').map((call) => call.args)).toEqual(
    activities.includes('startMonitors')
      ? [[{ sessionId: SESSION, studyId: 'SPN01', siteId: 'CMH', downloadScript: null }]]
      : [],
  );
});

test('recordSaved while the record is read: it is read and filed once more, the monitors started once', async () => {
  const firstRead = gate();
  wf.stub({
    readAndFileRedcapRecord: async () => {
      if (wf.calls('readAndFileRedcapRecord').length > 1) return { ...filed, change: 'updated', monitorsDue: false };
      await firstRead.wait;
      return filed;
    },
  });
  const handle = await wf.start(RedcapIntakeWorkflow, input);
  await waitFor(() => wf.calls('readAndFileRedcapRecord').length === 1, 'the first read');
  await handle.signal(recordSavedSignal);
  firstRead.open();
  expect(await handle.result()).toMatchObject({ reads: 2, change: 'updated', monitors: monitors(SESSION) });
  expect(wf.calls().map((call) => call.activity)).toEqual([
    'readAndFileRedcapRecord',
    'startMonitors',
    'readAndFileRedcapRecord',
  ]);
  expect(wf.calls('readAndFileRedcapRecord').map((call) => call.args)).toEqual([
    [{ ...trigger, read: 1 }],
    [{ ...trigger, read: 2 }],
  ]);
});

test.each<[string, Parameters<typeof wf.stub>[0], { type: string; message: string }]>([
  [
    'filing refuses the record',
    {
      readAndFileRedcapRecord: async () => {
        throw ApplicationFailure.nonRetryable('"SPN99_CMH_0001_01_01": no study SPN99', 'UnknownStudy');
      },
    },
    { type: 'UnknownStudy', message: '"SPN99_CMH_0001_01_01": no study SPN99' },
  ],
  [
    'REDCap does not answer for the whole fetch timeout',
    {
      readAndFileRedcapRecord: async () => {
        throw ApplicationFailure.retryable('REDCap answered 503', 'RedcapUnavailable');
      },
    },
    {
      type: 'IntakeTimedOut',
      message: 'Gave up reading and filing the REDCap record after 1 hour; last error: REDCap answered 503',
    },
  ],
])('%s: the intake fails with the reason, reported once to the admins', async (_, stubs, failure) => {
  wf.stub(stubs);
  const handle = await wf.start(RedcapIntakeWorkflow, { ...input, fetchTimeout: '1 hour' });
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toMatchObject({ ...failure, nonRetryable: true });
  // The activity composes the email from the database: the history holds the ids and the failure only.
  expect(wf.calls('reportFailedIntake').map((call) => call.args)).toEqual([[{ ...trigger, read: 1, ...failure }]]);
  expect(wf.calls('startMonitors')).toHaveLength(0);
});

test('a failure that cannot be reported (no admin to email) does not hide the intake’s own failure', async () => {
  wf.stub({
    readAndFileRedcapRecord: async () => {
      throw ApplicationFailure.nonRetryable('no study SPN99', 'UnknownStudy');
    },
    reportFailedIntake: async () => {
      throw ApplicationFailure.nonRetryable('no admin to email', 'NoRecipients');
    },
  });
  const handle = await wf.start(RedcapIntakeWorkflow, input);
  await expect(handle.result()).rejects.toMatchObject({ cause: { type: 'UnknownStudy', message: 'no study SPN99' } });
  expect(wf.calls('reportFailedIntake')).toHaveLength(1);
});

test('an SMTP server down for hours: the report is tried until it is sent, then the intake fails', async () => {
  wf.stub({
    readAndFileRedcapRecord: async () => {
      throw ApplicationFailure.nonRetryable('no study SPN99', 'UnknownStudy');
    },
    reportFailedIntake: async () => {
      if (wf.calls('reportFailedIntake').length < 20) throw ApplicationFailure.retryable('SMTP down', 'SmtpDown');
      return { emailed: true };
    },
  });
  const handle = await wf.start(RedcapIntakeWorkflow, input);
  await expect(handle.result()).rejects.toMatchObject({ cause: { type: 'UnknownStudy', message: 'no study SPN99' } });
  const tries = wf.calls('reportFailedIntake');
  expect(tries).toHaveLength(20);
  expect(tries[19].at - tries[0].at).toBeGreaterThan(3_600_000); // past the hour an email was given before
});
