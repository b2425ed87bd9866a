/**
 * ScanImportWorkflow with stubbed activities on the time-skipping server (test/support/workflow-tests.ts): its
 * checks, its 2-day wait, `scansArrived`, `cancel` and a cancel recorded on the session. The same with the real
 * activities, database and SMTP server: test/integration/scan-import.time-skipping.test.ts.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import {
  cancelSignal,
  MONITORING_CANCELLED,
  PermanentError,
  scansArrivedSignal,
  statusQuery,
  type ScanCheck,
  type ScanImportInput,
  type ScanImportResult,
} from '../../surface';
import { ScanImportWorkflow } from '../../workflows';
import { waitFor, workflowTests } from '../support/workflow-tests';

const DAY = 86_400_000;
const MISSING: ScanCheck = { missingScans: true, scans: 0 };
const PRESENT: ScanCheck = { missingScans: false, scans: 2 };

const wf = workflowTests({
  checkScans: async () => MISSING,
  sendMonitorEmail: async (request) => ({ sent: true, recipients: request.recipients?.length ?? 1 }),
});

const input: ScanImportInput = {
  sessionId: 'SPN01_CMH_0001_01_01',
  studyId: 'SPN01',
  siteId: 'CMH',
  checkDelayMs: 2 * DAY,
};

/** Waits (time standing still) until the monitor waits; returns when it will check again. */
async function waiting(handle: WorkflowHandle<typeof ScanImportWorkflow>): Promise<number> {
  let nextCheckAt: string | undefined;
  await waitFor(async () => {
    const status = await handle.query(statusQuery);
    nextCheckAt = status.state === 'waiting' ? status.nextCheckAt : undefined;
    return nextCheckAt !== undefined;
  }, 'the monitor to wait');
  return Date.parse(nextCheckAt!);
}

test.each<[string, ScanCheck, ScanImportResult]>([
  ['scans present', PRESENT, { outcome: 'scans-present' }],
  [
    'a cancel recorded on the session',
    { ...MISSING, cancelled: { reason: 'withdrew' } },
    { outcome: 'cancelled', cancelReason: 'withdrew' },
  ],
])('the first check finds %s: it ends at once, without waiting or email', async (_, check, result) => {
  wf.stub({ checkScans: async () => check });
  const handle = await wf.start(ScanImportWorkflow, input);
  expect(await handle.result()).toEqual(result);
  expect(await handle.query(statusQuery)).toMatchObject({ state: 'done', ...result });
  expect(wf.calls().map((call) => call.activity)).toEqual(['checkScans']);
  expect(wf.calls('checkScans')[0].args).toEqual([input.sessionId]);
});

test('scans still missing after the 2 days: one email, composed for this run and sent to its recipients', async () => {
  const handle = await wf.start(ScanImportWorkflow, { ...input, recipients: ['pi@example.org'] });
  const startedAt = (await handle.describe()).startTime.getTime();
  const checkAt = await waiting(handle);
  expect(checkAt - startedAt).toBeGreaterThanOrEqual(2 * DAY);
  expect(checkAt - startedAt).toBeLessThan(2 * DAY + 60_000);

  expect(await handle.result()).toEqual({ outcome: 'email-sent' });
  expect(wf.calls().map((call) => call.activity)).toEqual(['checkScans', 'checkScans', 'sendMonitorEmail']);
  expect(wf.calls('checkScans')[1].at).toBeGreaterThanOrEqual(checkAt);
  // Composed where it is sent: the history holds the request, never the email's text.
  expect(wf.calls('sendMonitorEmail')[0].args).toEqual([
    {
      kind: 'no-scans',
      key: `${handle.workflowId}:${handle.firstExecutionRunId}:no-scans`,
      sessionId: input.sessionId,
      recipients: ['pi@example.org'],
      waitedMs: 2 * DAY,
    },
  ]);
});

test('a cancel the email finds recorded on the session ends it cancelled with the reason, without email', async () => {
  wf.stub({
    sendMonitorEmail: async () => {
      throw ApplicationFailure.create({
        type: MONITORING_CANCELLED,
        nonRetryable: true,
        message: 'monitoring of the session is cancelled',
        details: [{ reason: 'withdrew' }],
      });
    },
  });
  const handle = await wf.start(ScanImportWorkflow, input);
  expect(await handle.result()).toEqual({ outcome: 'cancelled', cancelReason: 'withdrew' });
  expect(wf.calls().map((call) => call.activity)).toEqual(['checkScans', 'checkScans', 'sendMonitorEmail']);
});

test('scansArrived with the scans there: checked at once, scans-present before the 2 days, no email', async () => {
  const handle = await wf.start(ScanImportWorkflow, input);
  const checkAt = await waiting(handle);
  wf.stub({ checkScans: async () => PRESENT });
  await handle.signal(scansArrivedSignal);
  expect(await handle.result()).toEqual({ outcome: 'scans-present' });
  expect(wf.calls('checkScans')).toHaveLength(2);
  expect(wf.calls('checkScans')[1].at).toBeLessThan(checkAt);
  expect(wf.calls('sendMonitorEmail')).toHaveLength(0);
});

test('scansArrived with no scans yet: checked at once, then it waits until the same check time and emails', async () => {
  const handle = await wf.start(ScanImportWorkflow, input);
  const checkAt = await waiting(handle);
  await handle.signal(scansArrivedSignal);
  await waitFor(() => wf.calls('checkScans').length === 2, 'the check scansArrived asked for');
  expect(await waiting(handle)).toBe(checkAt);
  expect(await handle.result()).toEqual({ outcome: 'email-sent' });
  expect(wf.calls('checkScans').map((call) => call.at >= checkAt)).toEqual([false, false, true]);
  expect(wf.calls('sendMonitorEmail')).toHaveLength(1);
});

test('cancel during the wait ends it cancelled with the reason, without another check or email', async () => {
  const handle = await wf.start(ScanImportWorkflow, input);
  await waiting(handle);
  await handle.signal(cancelSignal, { reason: 'participant withdrew' });
  expect(await handle.result()).toEqual({ outcome: 'cancelled', cancelReason: 'participant withdrew' });
  expect(await handle.query(statusQuery)).toMatchObject({
    state: 'done',
    outcome: 'cancelled',
    cancelReason: 'participant withdrew',
  });
  expect(wf.calls().map((call) => call.activity)).toEqual(['checkScans']);
});

test('a cancel recorded on the session during the wait ends it cancelled at the check, without email', async () => {
  const handle = await wf.start(ScanImportWorkflow, input);
  await waiting(handle);
  wf.stub({ checkScans: async () => ({ ...MISSING, cancelled: { reason: 'scanned at another site' } }) });
  expect(await handle.result()).toEqual({ outcome: 'cancelled', cancelReason: 'scanned at another site' });
  expect(wf.calls().map((call) => call.activity)).toEqual(['checkScans', 'checkScans']);
});

test('a check that fails for good (the session deleted) fails the monitor with its message', async () => {
  const handle = await wf.start(ScanImportWorkflow, input);
  await waiting(handle);
  wf.stub({
    checkScans: async (sessionId) => {
      throw ApplicationFailure.create({
        type: PermanentError.SessionNotFound,
        nonRetryable: true,
        message: `Session ${sessionId} is no longer in the database`,
      });
    },
  });
  const failure = await handle.result().catch((err: unknown) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect((failure as WorkflowFailedError).cause?.cause).toMatchObject({
    type: PermanentError.SessionNotFound,
    message: `Session ${input.sessionId} is no longer in the database`,
  });
  expect(wf.calls('sendMonitorEmail')).toHaveLength(0);
});
