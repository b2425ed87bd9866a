/**
 * The history scan (test/support/history-scan.ts) on a history of release 0.2.0, whose intake read is in its events:
 * it finds the comment in both places a 0.2.0 intake keeps it, and names the event and the field.
 */
import path from 'node:path';
import { findingsIn, historyTexts } from '../support/history-scan';
import { HISTORIES_DIR, readHistory } from '../support/histories';

const history = readHistory(path.join(HISTORIES_DIR, 'release-0.2.0', 'redcap-intake-completed.history.json'));
const run = { workflowId: 'redcap-intake:1:R5', runId: 'r', workflowType: 'RedcapIntakeWorkflow' };

test('a 0.2.0 intake has its read in the history: the result of fetchRedcapRecord and the input of fileRedcapRecord', () => {
  expect(findingsIn(history, run, [{ kind: 'redcap-comment', text: 'recorded' }])).toEqual([
    expect.objectContaining({
      field: 'event 8 ACTIVITY_TASK_COMPLETED activityTaskCompletedEventAttributes.result.payloads[0].comment',
    }),
    expect.objectContaining({
      field: 'event 12 ACTIVITY_TASK_SCHEDULED activityTaskScheduledEventAttributes.input.payloads[1].comment',
    }),
  ]);
});

test('text that is not there is not found; an id is found wherever it is', () => {
  expect(findingsIn(history, run, [{ kind: 'email-body', text: 'never in any history' }])).toEqual([]);
  const texts = historyTexts(history).map((entry) => entry.text);
  expect(texts).toContain('SPN01_ZHH_FDAE0005_01_01');
  expect(
    findingsIn(history, run, [{ kind: 'redcap-session', text: 'SPN01_ZHH_FDAE0005_01_01' }]).length,
  ).toBeGreaterThan(0);
});
