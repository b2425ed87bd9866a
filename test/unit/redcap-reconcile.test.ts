/** Reconciliation's pure rules (src/redcap/reconcile.ts): the window and its margin, row identity, and when a row gets an intake. */
import {
  RECONCILE_MARGIN_MS,
  differsFromFiled,
  exportedFields,
  needsIntake,
  ofInstrument,
  readRow,
  reconcileWindow,
  redcapDateTime,
  rowDigest,
  rowIdentity,
  storedIdentity,
  identityKey,
  describeRow,
  type IntakeSeen,
} from '../../src/redcap/reconcile';

const config = {
  instrument: 'mri_scan_log',
  sessionField: 'session_id',
  dateField: 'scan_date',
  commentField: 'comments',
  userField: 'ra_id',
  completedField: 'mri_scan_log_complete',
  completedValue: '2',
};
const row = {
  record_id: '17',
  session_id: 'SPN01_CMH_0001_01_01',
  scan_date: '2026-11-20',
  comments: 'ok',
  ra_id: '42',
  mri_scan_log_complete: '2',
};
const HOUR = 3_600_000;

describe('the window', () => {
  const now = new Date('2026-11-26T12:00:00.000Z');

  test('REDCap times are YYYY-MM-DD HH:MM:SS, in UTC', () => {
    expect(redcapDateTime(new Date('2026-11-26T07:05:09.999Z'))).toBe('2026-11-26 07:05:09');
  });

  test('from the last successful run, less 14 h 15 min', () => {
    const window = reconcileWindow(now, {
      reconciledUntil: new Date('2026-11-26T11:00:00Z'),
      lookbackMs: 7 * 24 * HOUR,
    });
    expect(window).toEqual({ from: new Date('2026-11-26T11:00:00Z'), begin: '2026-11-25 20:45:00', coversGap: true });
  });

  test('the first run looks back RECONCILE_LOOKBACK', () => {
    const window = reconcileWindow(now, { lookbackMs: 7 * 24 * HOUR });
    expect(window.from).toEqual(new Date('2026-11-19T12:00:00Z'));
    expect(window.begin).toBe('2026-11-18 21:45:00');
    expect(window.coversGap).toBe(true);
  });

  test('--since: a backfill from earlier covers the gap, one from later does not', () => {
    const reconciledUntil = new Date('2026-11-26T11:00:00Z');
    expect(
      reconcileWindow(now, { since: new Date('2026-11-20T00:00:00Z'), reconciledUntil, lookbackMs: HOUR }).coversGap,
    ).toBe(true);
    expect(
      reconcileWindow(now, { since: new Date('2026-11-26T11:30:00Z'), reconciledUntil, lookbackMs: HOUR }).coversGap,
    ).toBe(false);
    expect(reconcileWindow(now, { since: new Date('2026-11-26T11:30:00Z'), lookbackMs: HOUR }).coversGap).toBe(false);
  });

  test.each([-14, -9.5, -5, 0, 5.75, 13, 14])(
    'a change right after the last run is in the window of a REDCap at UTC %s h',
    (offsetHours) => {
      const reconciledUntil = new Date('2026-11-26T11:00:00Z');
      const { begin } = reconcileWindow(now, { reconciledUntil, lookbackMs: HOUR });
      // The change as REDCap logs it: in its own clock's local time, that clock 10 minutes slow.
      const changedAt = reconciledUntil.getTime() + 1_000;
      const logged = redcapDateTime(new Date(changedAt + offsetHours * HOUR - 10 * 60_000));
      expect(logged > begin).toBe(true);
      expect(RECONCILE_MARGIN_MS).toBe(14 * HOUR + 15 * 60_000);
    },
  );
});

describe('rows', () => {
  test('identity: record, event, instance (a number on instance rows, "" on the base row)', () => {
    expect(rowIdentity(row, 'record_id')).toEqual({ record: '17', eventName: '', instance: null });
    expect(
      rowIdentity(
        {
          ...row,
          redcap_event_name: 'month_6_arm_1',
          redcap_repeat_instrument: 'mri_scan_log',
          redcap_repeat_instance: '2',
        },
        'record_id',
      ),
    ).toEqual({
      record: '17',
      eventName: 'month_6_arm_1',
      instance: 2,
    });
    expect(
      rowIdentity({ ...row, redcap_repeat_instrument: '', redcap_repeat_instance: '' }, 'record_id').instance,
    ).toBeNull();
    expect(identityKey(storedIdentity({ record: '17', eventName: '', repeatInstance: 0 }))).toBe(
      identityKey(rowIdentity(row, 'record_id')),
    );
    expect(describeRow({ record: 'Zoë 7', eventName: 'baseline_arm_1', instance: 2 })).toBe(
      'Zoë 7 (baseline_arm_1) #2',
    );
  });

  test("another repeating instrument's rows are not ours", () => {
    expect(ofInstrument({ ...row, redcap_repeat_instrument: 'mri_scan_log' }, config)).toBe(true);
    expect(ofInstrument({ ...row, redcap_repeat_instrument: 'medication_log' }, config)).toBe(false);
    expect(ofInstrument({ ...row, redcap_repeat_instrument: '' }, config)).toBe(true);
  });

  test('exported fields: the record id and what the intake reads, each once', () => {
    expect(exportedFields(config, 'record_id')).toEqual([
      'record_id',
      'session_id',
      'scan_date',
      'comments',
      'ra_id',
      'mri_scan_log_complete',
    ]);
    expect(exportedFields({ ...config, userField: null, sessionField: 'record_id' }, 'record_id')).toEqual([
      'record_id',
      'scan_date',
      'comments',
      'mri_scan_log_complete',
    ]);
  });

  test('differs from what is filed: not filed, or another session, date, comment or user', () => {
    const entry = readRow(row, config, '17').entry!;
    const filed = { sessionName: 'SPN01_CMH_0001_01_01', entryDate: '2026-11-20', comment: 'ok', user: '42' };
    expect(differsFromFiled(filed, entry)).toBe(false);
    expect(differsFromFiled(undefined, entry)).toBe(true);
    expect(differsFromFiled({ ...filed, sessionName: 'SPN01_CMH_0001_01_02' }, entry)).toBe(true);
    expect(differsFromFiled({ ...filed, entryDate: '2026-11-21' }, entry)).toBe(true);
    expect(differsFromFiled({ ...filed, comment: 'ok ' }, entry)).toBe(true);
    expect(differsFromFiled({ ...filed, user: null }, entry)).toBe(true);
  });

  test('the digest follows the fields the intake reads, and nothing else', () => {
    expect(rowDigest(row, config)).toBe(rowDigest({ ...row, other_field: 'x' }, config));
    expect(rowDigest(row, config)).not.toBe(rowDigest({ ...row, comments: 'changed' }, config));
  });
});

describe('when a completed row that is not filed as it is gets an intake', () => {
  const reading = readRow(row, config, '17');
  const broken = readRow({ ...row, session_id: '' }, config, '17');
  const digest = rowDigest(row, config);
  const read = { sessionName: row.session_id, entryDate: row.scan_date, comment: row.comments, user: row.ra_id };
  const cases: Array<[string, IntakeSeen, typeof reading, boolean]> = [
    ['no intake yet: a missed trigger', { state: 'none' }, reading, true],
    ['an intake runs: it reads the record itself', { state: 'running' }, reading, false],
    [
      'ours, for this very row: already done (failed and emailed, or filed)',
      { state: 'closed', status: 'FAILED', rowDigest: digest },
      reading,
      false,
    ],
    [
      'ours, for an earlier version of the row',
      { state: 'closed', status: 'FAILED', rowDigest: 'another' },
      reading,
      true,
    ],
    [
      "a trigger's, completed: the row changed since it was filed",
      { state: 'closed', status: 'COMPLETED' },
      reading,
      true,
    ],
    [
      'failed, having refused this very row (intake_failure has its digest)',
      { state: 'closed', status: 'FAILED', refusedDigest: digest },
      reading,
      false,
    ],
    [
      'failed, having refused an earlier version of the row',
      { state: 'closed', status: 'FAILED', refusedDigest: 'another' },
      reading,
      true,
    ],
    [
      'failed without refusing the row (gave up, or REDCap did not give it): nothing was decided',
      { state: 'closed', status: 'FAILED', refusedDigest: null },
      reading,
      true,
    ],
    [
      'ours, gave up filing it: nothing was filed, whatever the memo says',
      { state: 'closed', status: 'FAILED', rowDigest: digest, refusedDigest: null },
      reading,
      true,
    ],
    [
      "before 0.3.0, a trigger's, failed after reading this very row",
      { state: 'closed', status: 'FAILED', read, problem: { type: 'InvalidSessionIdError' } },
      reading,
      false,
    ],
    [
      "before 0.3.0, a trigger's, failed after reading an earlier version",
      { state: 'closed', status: 'FAILED', read: { ...read, comment: 'old' } },
      reading,
      true,
    ],
    [
      // Issue 22 item 4: the history has the read, but filing gave up after its day: the row was never filed.
      "before 0.3.0, a trigger's, read this very row and then gave up filing it",
      { state: 'closed', status: 'FAILED', read, gaveUp: true },
      reading,
      true,
    ],
    [
      "before 0.3.0, a trigger's, failed reading the row for the problem the row still has",
      { state: 'closed', status: 'FAILED', problem: broken.problem },
      broken,
      false,
    ],
    [
      "before 0.3.0, a trigger's, failed reading the row for another problem",
      { state: 'closed', status: 'FAILED', problem: { type: 'RedcapFieldInvalid', field: 'scan_date' } },
      broken,
      true,
    ],
    [
      "before 0.3.0, a trigger's, failed reading the row, which is fine now",
      { state: 'closed', status: 'FAILED', problem: broken.problem },
      reading,
      true,
    ],
    [
      "before 0.3.0, a trigger's, timed out reading",
      { state: 'closed', status: 'FAILED', gaveUp: true },
      reading,
      true,
    ],
  ];
  test.each(cases)('%s', (_what, intake, rowReading, expected) => {
    expect(needsIntake(rowReading, digest, intake)).toBe(expected);
  });
});

// Issue 22 item 5: an intake of a longitudinal or repeating project names its record with the event and instance;
// reconciliation compares the problem's type and field, which do not depend on how the record is named.
test('a row problem is the same whatever the record is called', () => {
  const bad = { ...row, session_id: '' };
  expect(readRow(bad, config, '17 (event month_6_arm_1, instance 2)')).toEqual(readRow(bad, config, '17'));
  expect(readRow(bad, config, '17').problem).toEqual({ type: 'RedcapFieldMissing', field: 'session_id' });
});
