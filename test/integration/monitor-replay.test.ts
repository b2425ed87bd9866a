/**
 * Replays the checked-in histories of completed monitor runs (test/fixtures/histories, recorded by
 * monitors.dev-server.test.ts with RECORD_HISTORIES=1) against today's workflow code: a change that would
 * break running monitors (nondeterminism) fails here.
 */
import { Worker } from '@temporalio/worker';
import { recordedHistories } from '../support/histories';
import { quietTemporalLogs } from '../support/monitors';

test('every recorded monitor history replays without nondeterminism', async () => {
  quietTemporalLogs();
  const histories = recordedHistories();
  expect(histories.map((h) => h.name)).toEqual(
    expect.arrayContaining([
      'scan-import-email-sent',
      'scan-import-scans-arrived',
      'scan-import-cancelled',
      'scan-import-worker-restarted',
      'scan-download-downloaded',
      'scan-download-gave-up',
    ]),
  );
  const results = [];
  for await (const result of Worker.runReplayHistories({ workflowsPath: require.resolve('../../workflows') }, histories)) {
    results.push([result.workflowId, result.error ? `${result.error.name}: ${result.error.message}` : 'ok']);
  }
  expect(results).toEqual(histories.map((h) => [h.workflowId, 'ok']));
});
