/**
 * RedcapReconcileWorkflow with stubbed activities on the time-skipping server (test/support/workflow-tests.ts): its
 * three steps and their hand-over, the missed-triggers email, and how it fails. The same with the real activities,
 * REDCap (fake), database and schedules: test/integration/reconcile.test.ts.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ReconcileProgress } from '../../activities/reconcile';
import type { RedcapReconcileInput } from '../../surface';
import { RedcapReconcileWorkflow } from '../../workflows';
import { workflowTests } from '../support/workflow-tests';

const begun: ReconcileProgress = {
  startedAt: '2026-11-20T10:00:00.000Z',
  begin: '2026-11-19 09:00:00',
  coversGap: true,
  recordIdField: 'record_id',
  after: null,
  totals: { checked: 0, started: 0, unchanged: 0 },
  missed: { count: 0, sample: [] },
};
const done: ReconcileProgress = {
  ...begun,
  after: '42',
  totals: { checked: 40, started: 2, unchanged: 35 },
  missed: { count: 2, sample: ['17', '42'] },
};
const wf = workflowTests({
  beginReconcile: async () => begun,
  reconcileRecords: async () => done,
  endReconcile: async () => undefined,
  emailMissedTriggers: async () => ({ emailed: true }),
});

const input: RedcapReconcileInput = { configId: 3, since: '2026-11-19T09:00:00Z' };

test('begins, works through the records, finishes, emails the missed triggers; its result is the totals', async () => {
  const handle = await wf.start(RedcapReconcileWorkflow, input);
  expect(await handle.result()).toEqual(done.totals);
  expect(wf.calls().map((call) => [call.activity, call.args])).toEqual([
    ['beginReconcile', [{ configId: 3, since: input.since }]],
    ['reconcileRecords', [{ configId: 3, progress: begun }]],
    ['endReconcile', [{ configId: 3, progress: done }]],
    // Composed where it is sent, from the progress: the history holds ids and counts, never the email's text.
    ['emailMissedTriggers', [{ configId: 3, progress: done }]],
  ]);
});

test('nothing missed: no email', async () => {
  const none: ReconcileProgress = { ...done, missed: { count: 0, sample: [] } };
  wf.stub({ reconcileRecords: async () => none });
  const handle = await wf.start(RedcapReconcileWorkflow, { configId: 3 });
  expect(await handle.result()).toEqual(done.totals);
  expect(wf.calls('endReconcile')).toHaveLength(1);
  expect(wf.calls('emailMissedTriggers')).toHaveLength(0);
});

test('an email that cannot be sent within its hour does not fail the run: its intakes are started', async () => {
  wf.stub({
    emailMissedTriggers: async () => {
      throw ApplicationFailure.retryable('SMTP server down', 'SmtpDown');
    },
  });
  const handle = await wf.start(RedcapReconcileWorkflow, input);
  expect(await handle.result()).toEqual(done.totals);
  expect(wf.calls('emailMissedTriggers').length).toBeGreaterThan(1);
});

test.each<[string, Parameters<typeof wf.stub>[0], string, number]>([
  [
    'REDCap refuses the token',
    {
      beginReconcile: async () => {
        throw ApplicationFailure.nonRetryable('REDCap refused the token (403)', 'RedcapForbidden');
      },
    },
    'RedcapForbidden',
    1,
  ],
  [
    'REDCap is down for all four tries',
    {
      reconcileRecords: async () => {
        throw ApplicationFailure.retryable('REDCap answered 503', 'RedcapUnavailable');
      },
    },
    'RedcapUnavailable',
    4,
  ],
])('%s: the run fails with REDCap’s reason, and sends nothing', async (_, stubs, type, tries) => {
  wf.stub(stubs);
  const handle = await wf.start(RedcapReconcileWorkflow, input);
  const activity = Object.keys(stubs)[0] as keyof typeof stubs;
  await expect(handle.result()).rejects.toMatchObject({
    cause: {
      type,
      message: expect.stringMatching(/^Reconciliation of REDCap config 3 failed: REDCap (refused|answered)/),
    },
  });
  expect(wf.calls(activity)).toHaveLength(tries);
  expect(wf.calls('emailMissedTriggers')).toHaveLength(0);
});
