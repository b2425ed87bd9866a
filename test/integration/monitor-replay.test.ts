/**
 * Replays the checked-in histories under test/fixtures/histories against today's workflows/: the completed runs
 * recorded by monitors.dev-server.test.ts (RECORD_HISTORIES=1), and the workflows each release whose workflows may
 * still run left running, recorded mid-flight under release-<version>/ (see its README). A change to workflows/ that would break a
 * workflow running in a lab (nondeterminism: other commands than the history holds) fails here, naming the
 * history and the mismatch. Each release's histories also replay against that release's frozen code
 * (test/fixtures/releases/<version>), which shows the frozen copy is the code that made them.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { EncryptionCodec, serviceDataConverter } from '../../src/temporal/data-converter';
import { replayHistories, type ReplayOutcome } from '../support/determinism';
import { encodedHistory, HISTORIES_DIR, recordedHistories } from '../support/histories';
import { frozenReleases, releaseWorkflowsPath, runningReleases } from '../support/releases';
import { quietTemporalLogs } from '../support/temporal';

jest.setTimeout(180_000);

const histories = recordedHistories();
/** What today's code must replay: the completed runs, and the histories of every release whose workflows may run. */
const running = runningReleases();
const current = histories.filter(
  (h) => !h.name.startsWith('release-') || running.some((version) => h.name.startsWith(`release-${version}/`)),
);

/** Fails listing every history that did not replay, with what to do about it. */
function expectAllReplayed(outcomes: ReplayOutcome[], against: string): void {
  const failed = outcomes.filter((outcome) => outcome.error !== undefined);
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${outcomes.length} recorded histories do not replay against ${against}:\n` +
        failed
          .map((f) => `  ${path.join(path.relative(process.cwd(), HISTORIES_DIR), f.name)}.history.json: ${f.error}`)
          .join('\n') +
        '\nA workflow running in a lab has this history: change the workflow code so that it replays (guard the change with ' +
        "patched('<change-id>'), see test/fixtures/releases/README.md); never re-record a release's histories.",
    );
  }
  expect(outcomes.map((outcome) => outcome.name)).toEqual(current.map((h) => h.name));
}

beforeAll(() => quietTemporalLogs());

test('the recorded histories are there: completed runs, and releases 0.1.0 and 0.2.0 mid-flight', () => {
  expect(histories.map((h) => h.name)).toEqual(
    expect.arrayContaining([
      'scan-import-email-sent',
      'scan-import-scans-arrived',
      'scan-import-cancelled',
      'scan-import-worker-restarted',
      'scan-download-downloaded',
      'scan-download-gave-up',
      'release-0.1.0/scan-import-mid-wait',
      'release-0.1.0/scan-import-mid-wait-after-scans-arrived',
      'release-0.1.0/scan-import-mid-email',
      'release-0.1.0/scan-download-mid-download',
      'release-0.1.0/scan-download-mid-download-after-scans-arrived',
      'release-0.1.0/scan-download-mid-post-download',
      'release-0.1.0/redcap-intake-retrying-redcap',
      'release-0.1.0/redcap-intake-mid-start-monitors',
      'release-0.2.0/scan-import-mid-wait',
      'release-0.2.0/scan-import-mid-wait-after-scans-arrived',
      'release-0.2.0/scan-import-mid-email',
      'release-0.2.0/scan-download-mid-download',
      'release-0.2.0/scan-download-mid-download-after-scans-arrived',
      'release-0.2.0/scan-download-mid-post-download',
      'release-0.2.0/redcap-intake-retrying-redcap',
      'release-0.2.0/redcap-intake-mid-start-monitors',
      'release-0.2.0/redcap-reconcile-mid-run',
    ]),
  );
});

test(`the histories of the running releases (${running.join(', ')}) and the completed runs replay against today's workflows/`, async () => {
  const outcomes = await replayHistories({ workflowsPath: require.resolve('../../workflows') }, current);
  expectAllReplayed(outcomes, "today's workflows/");
});

describe('with payload encryption on (TEMPORAL_CODEC_KEYS)', () => {
  const keys = [
    { id: 'current', key: randomBytes(32) },
    { id: 'previous', key: randomBytes(32) },
  ];
  const converter = serviceDataConverter(keys);

  test("every recorded history, its payloads encrypted, replays against today's workflows/ with the keys", async () => {
    // Half encrypted with the key in use, half with the one before it: rotation keeps them all readable.
    const encrypted = await Promise.all(
      histories.map(async ({ name, history }, i) => ({
        name,
        history: await encodedHistory(history, new EncryptionCodec(i % 2 ? [keys[1]] : keys)),
      })),
    );
    expect(JSON.stringify(encrypted[0].history)).not.toEqual(JSON.stringify(histories[0].history));
    const outcomes = await replayHistories(
      { workflowsPath: require.resolve('../../workflows'), dataConverter: converter },
      encrypted,
    );
    expectAllReplayed(outcomes, "today's workflows/ (payloads encrypted)");
    // A worker without the keys cannot replay them: the payloads really are encrypted, and the failure names the key.
    const withoutKeys = await replayHistories(
      { workflowsPath: require.resolve('../../workflows'), dataConverter: serviceDataConverter([]) },
      encrypted.slice(0, 2),
    );
    expect(withoutKeys.map((outcome) => outcome.error)).toEqual([
      expect.stringMatching(/key id \W*current\W.*TEMPORAL_CODEC_KEYS is unset/),
      expect.stringMatching(/key id \W*previous\W.*TEMPORAL_CODEC_KEYS is unset/),
    ]);
  });

  test('histories from before encryption was turned on replay with it on', async () => {
    const outcomes = await replayHistories(
      { workflowsPath: require.resolve('../../workflows'), dataConverter: converter },
      histories,
    );
    expectAllReplayed(outcomes, "today's workflows/ (encryption turned on)");
  });
});

describe.each(frozenReleases())('release %s', (version) => {
  test('its recorded histories replay against its frozen workflow code', async () => {
    const own = histories.filter((h) => h.name.startsWith(`release-${version}/`));
    expect(own.length).toBeGreaterThan(0);
    const outcomes = await replayHistories({ workflowsPath: releaseWorkflowsPath(version) }, own);
    const failed = outcomes.filter((outcome) => outcome.error !== undefined);
    expect(failed).toEqual([]);
    expect(outcomes.map((o) => o.name)).toEqual(own.map((h) => h.name));
  });
});
