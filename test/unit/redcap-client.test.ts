/** The REDCap API client against the fake REDCap server: rows, events, and how each failure is classified. */
import { RedcapClient, RedcapError, type RedcapEndpoint } from '../../src/redcap/client';
import { readScanEntry } from '../../src/redcap/record';
import { reconcileWindow, redcapDateTime } from '../../src/redcap/reconcile';
import { FakeRedcap, redcapFixtureRows } from '../support/fake-redcap';
import { freePort } from '../support/ports';

const CLASSIC_TOKEN = 'A1B2C3D4E5F60718293A4B5C6D7E8F90';
const LONG_TOKEN = '0F1E2D3C4B5A69788796A5B4C3D2E1F0';
const fields = { sessionField: 'session_id', dateField: 'scan_date', commentField: 'comments', userField: 'ra_id' };

let fake: FakeRedcap;
let classic: RedcapEndpoint;
let longitudinal: RedcapEndpoint;
const client = new RedcapClient({ timeoutMs: 1_000 });

beforeAll(async () => {
  fake = await FakeRedcap.start();
  fake.addProject({ token: CLASSIC_TOKEN, records: redcapFixtureRows('export-classic.json') });
  fake.addProject({
    token: LONG_TOKEN,
    records: redcapFixtureRows('export-longitudinal.json'),
    events: { baseline_arm_1: 41, month_6_arm_1: 42 },
  });
  classic = { url: fake.url, project: 1234, token: CLASSIC_TOKEN };
  longitudinal = { url: fake.url, project: 2001, token: LONG_TOKEN };
});
afterEach(() => fake.heal());
afterAll(() => fake.close());

/** The RedcapError a call fails with. */
async function failure(call: Promise<unknown>): Promise<RedcapError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RedcapError);
  const redcapError = err as RedcapError;
  expect(redcapError.message).not.toContain(CLASSIC_TOKEN);
  expect(JSON.stringify(redcapError.details)).not.toContain(CLASSIC_TOKEN);
  return redcapError;
}

test('Export Records of a classic record: the one row, every value a string, asked the way REDCap expects', async () => {
  const row = await client.exportRecord(classic, '17');
  expect(row).toEqual(redcapFixtureRows('export-classic.json')[0]);
  expect(readScanEntry(row, fields, '17')).toEqual({
    sessionName: 'spn01_cmh_0001_01_01',
    entryDate: '2026-11-20',
    comment: 'Fieldmap repeated',
    user: '42',
  });
  const call = fake.calls.at(-1)!;
  expect(call).toMatchObject({ content: 'record', record: '17', tokenValid: true, status: 200 });
  expect(call.params).toEqual({ content: 'record', format: 'json', type: 'flat', 'records[0]': '17', returnFormat: 'json' });
});

test('longitudinal: only the row of the trigger event, and the event id from Export Events', async () => {
  const row = await client.exportRecord(longitudinal, 'CMH0042', 'month_6_arm_1');
  expect(row).toMatchObject({ redcap_event_name: 'month_6_arm_1', session_id: 'SPN01_CMH_0042_02_01', scan_date: '2026-11-03' });
  expect((await client.exportEvents(longitudinal)).get('month_6_arm_1')).toBe(42);
});

test('longitudinal without an event: more than one row is refused, naming the record', async () => {
  const err = await failure(client.exportRecord(longitudinal, 'CMH0042'));
  expect(err).toMatchObject({ type: 'RedcapAmbiguousRecord', retryable: false });
  expect(err.message).toMatch(/2 rows for record CMH0042/);
});

test('zero rows (unknown record or event) is not retryable and names the record', async () => {
  const missing = await failure(client.exportRecord(classic, '999'));
  expect(missing).toMatchObject({ type: 'RedcapRecordNotFound', retryable: false });
  expect(missing.message).toMatch(/no record 999 of REDCap project 1234/);
  const noEvent = await failure(client.exportRecord(longitudinal, 'CMH0042', 'month_12_arm_1'));
  expect(noEvent.message).toMatch(/CMH0042 \(event month_12_arm_1\)/);
});

test('a bad token: 403 with REDCap reason, not retryable, token not in the error', async () => {
  const err = await failure(client.exportRecord({ ...classic, token: 'WRONG' }, '17'));
  expect(err).toMatchObject({ type: 'RedcapAccessDenied', retryable: false });
  expect(err.message).toMatch(/403: You do not have permissions to use the API/);
  fake.forbid();
  const forbidden = await failure(client.exportRecord(classic, '17'));
  expect(forbidden.type).toBe('RedcapAccessDenied');
});

test('401 and 400 are not retryable; 5xx and 429 are', async () => {
  for (const [status, type, retryable] of [
    [401, 'RedcapAccessDenied', false],
    [400, 'RedcapBadRequest', false],
    [500, 'RedcapUnavailable', true],
    [502, 'RedcapUnavailable', true],
    [503, 'RedcapUnavailable', true],
    [429, 'RedcapUnavailable', true],
  ] as const) {
    fake.failNext(1, status);
    const err = await failure(client.exportRecord(classic, '17'));
    expect({ status, type: err.type, retryable: err.retryable }).toEqual({ status, type, retryable });
    expect(err.message).toContain(`answered ${status}`);
  }
  // After the failures, it answers again.
  expect((await client.exportRecord(classic, '17')).record_id).toBe('17');
});

test('a slow REDCap times out (retryable) instead of hanging', async () => {
  fake.slow(3_000);
  const err = await failure(client.exportRecord(classic, '17'));
  expect(err).toMatchObject({ type: 'RedcapUnavailable', retryable: true });
  expect(err.message).toMatch(/no answer within 1 s/);
});

test('a REDCap nobody listens on is a retryable network error', async () => {
  const err = await failure(client.exportRecord({ ...classic, url: `http://127.0.0.1:${await freePort()}/` }, '17'));
  expect(err).toMatchObject({ type: 'RedcapUnavailable', retryable: true });
  expect(err.message).toMatch(/could not be reached \(ECONNREFUSED\)/);
});

test('a classic project has no events: Export Events fails with REDCap reason', async () => {
  const err = await failure(client.exportEvents(classic));
  expect(err).toMatchObject({ type: 'RedcapBadRequest', retryable: false });
  expect(err.message).toMatch(/cannot export events for classic projects/);
});

test('a row missing a configured field names the record and the field', () => {
  const row = redcapFixtureRows('export-classic.json')[0];
  const { comments: _dropped, ...withoutComment } = row;
  expect(() => readScanEntry(withoutComment, fields, '17')).toThrow(/record 17 has no field "comments"/);
  try {
    readScanEntry({ ...row, session_id: ' ' }, fields, '17');
  } catch (err) {
    expect(err).toMatchObject({ type: 'RedcapFieldMissing', retryable: false, details: { record: '17', field: 'session_id' } });
  }
  expect(() => readScanEntry({ ...row, scan_date: '20/11/2026' }, fields, '17')).toThrow(/"20\/11\/2026" in "scan_date", which is not a date/);
  expect(readScanEntry({ ...row, ra_id: '' }, fields, '17').user).toBeNull();
  expect(readScanEntry(row, { ...fields, userField: null }, '17').user).toBeNull();
});

describe('Export Records by date range, in pages (reconciliation)', () => {
  const HOUR = 3_600_000;
  const rows = ['a', 'b', 'c', 'd'].map((record) => ({ ...redcapFixtureRows('export-classic.json')[0], record_id: record }));
  /** A project on a REDCap whose clock is `offsetMinutes` ahead of UTC; its records last modified at the given times. */
  function zoneProject(offsetMinutes: number, modified: Record<string, number>): RedcapEndpoint {
    const token = `Z${String(offsetMinutes + 100_000).padStart(31, '0')}`;
    fake.addProject({ token, records: rows.map((row) => ({ ...row })), utcOffsetMinutes: offsetMinutes });
    for (const [record, at] of Object.entries(modified)) fake.touch(token, record, new Date(at));
    return { url: fake.url, project: 3000 + offsetMinutes, token };
  }

  test('the record id field comes from Export Metadata', async () => {
    expect(await client.exportRecordIdField(classic)).toBe('record_id');
    expect(fake.calls.at(-1)?.params).toMatchObject({ content: 'metadata', format: 'json' });
  });

  test.each([-14 * 60, -300, 0, 330, 14 * 60])('a REDCap at UTC %s min: every record changed since the last run comes back, whatever its zone', async (offset) => {
    const lastRun = Date.now() - 3 * HOUR;
    const endpoint = zoneProject(offset, { a: lastRun - 40 * HOUR, b: lastRun + 1_000, c: Date.now(), d: lastRun - 10 * 60_000 });
    const { begin } = reconcileWindow(new Date(), { reconciledUntil: new Date(lastRun), lookbackMs: HOUR });
    const names = await client.exportRecordNamesSince(endpoint, 'record_id', begin);
    // b and c changed after the last run; d, 10 minutes before it, is within the margin in any zone; a is long before.
    expect(names).toEqual(['b', 'c', 'd']);
    expect(fake.calls.at(-1)?.params).toMatchObject({ content: 'record', 'fields[0]': 'record_id', dateRangeBegin: begin });
  });

  test('REDCap reads dateRangeBegin in its own clock', async () => {
    const at = Date.now() - 10 * HOUR;
    const begin = redcapDateTime(new Date(at - HOUR)); // an hour before the change, in UTC
    expect(await client.exportRecordNamesSince(zoneProject(-300, { a: at, b: at, c: at, d: at }), 'record_id', begin)).toEqual([]);
    expect(await client.exportRecordNamesSince(zoneProject(300, { a: at, b: at, c: at, d: at }), 'record_id', begin)).toEqual(['a', 'b', 'c', 'd']);
  });

  test('a page of records, only the fields asked for', async () => {
    const page = await client.exportRecordRows(longitudinal, ['CMH0042'], ['record_id', 'session_id']);
    expect(page).toEqual([
      { record_id: 'CMH0042', redcap_event_name: 'baseline_arm_1', session_id: expect.any(String) },
      { record_id: 'CMH0042', redcap_event_name: 'month_6_arm_1', session_id: 'SPN01_CMH_0042_02_01' },
    ]);
    expect(fake.calls.at(-1)?.params).toMatchObject({ 'records[0]': 'CMH0042', 'fields[0]': 'record_id', 'fields[1]': 'session_id' });
  });
});
