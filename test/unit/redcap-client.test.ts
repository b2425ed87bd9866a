/** The REDCap API client against the fake REDCap server: rows, events, and how each failure is classified. */
import { RedcapClient, RedcapError, type RedcapEndpoint, type RepeatInstance } from '../../src/redcap/client';
import { readScanEntry } from '../../src/redcap/record';
import { reconcileWindow, redcapDateTime } from '../../src/redcap/reconcile';
import {
  FakeRedcap,
  PARTICIPANT_ONLY_FIELDS,
  redcapFixtureRepeatRows,
  redcapFixtureRows,
} from '../support/fake-redcap';
import { freePort } from '../support/ports';

const CLASSIC_TOKEN = 'A1B2C3D4E5F60718293A4B5C6D7E8F90';
const LONG_TOKEN = '0F1E2D3C4B5A69788796A5B4C3D2E1F0';
const REPEAT_TOKEN = '11112222333344445555666677778888';
const EVENTS_TOKEN = '99990000AAAABBBBCCCCDDDDEEEEFFFF';
const fields = { sessionField: 'session_id', dateField: 'scan_date', commentField: 'comments', userField: 'ra_id' };

let fake: FakeRedcap;
let classic: RedcapEndpoint;
let longitudinal: RedcapEndpoint;
let repeating: RedcapEndpoint;
let repeatingEvents: RedcapEndpoint;
const client = new RedcapClient({ timeoutMs: 1_000 });

beforeAll(async () => {
  fake = await FakeRedcap.start();
  fake.addProject({ token: CLASSIC_TOKEN, records: redcapFixtureRows('export-classic.json') });
  fake.addProject({
    token: LONG_TOKEN,
    records: redcapFixtureRows('export-longitudinal.json'),
    events: { baseline_arm_1: 41, month_6_arm_1: 42 },
  });
  fake.addProject({ token: REPEAT_TOKEN, records: redcapFixtureRepeatRows('export-repeating.json') });
  // A longitudinal project whose "scan" event repeats as a whole (no repeat instrument), beside a repeating
  // instrument of another form in the same event.
  fake.addProject({
    token: EVENTS_TOKEN,
    records: [
      {
        record_id: '5',
        redcap_event_name: 'baseline_arm_1',
        redcap_repeat_instrument: '',
        redcap_repeat_instance: '',
        session_id: 'SPN01_CMH_0005_01_01',
        scan_date: '2026-01-05',
        comments: '',
      },
      {
        record_id: '5',
        redcap_event_name: 'scan_arm_1',
        redcap_repeat_instrument: '',
        redcap_repeat_instance: 1,
        session_id: 'SPN01_CMH_0005_02_01',
        scan_date: '2026-06-05',
        comments: '',
      },
      {
        record_id: '5',
        redcap_event_name: 'scan_arm_1',
        redcap_repeat_instrument: '',
        redcap_repeat_instance: 2,
        session_id: 'SPN01_CMH_0005_03_01',
        scan_date: '2026-11-05',
        comments: 'third',
      },
      {
        record_id: '5',
        redcap_event_name: 'scan_arm_1',
        redcap_repeat_instrument: 'medications',
        redcap_repeat_instance: 2,
        session_id: '',
        scan_date: '',
        comments: '',
      },
    ],
    events: { baseline_arm_1: 51, scan_arm_1: 52 },
  });
  classic = { url: fake.url, project: 1234, token: CLASSIC_TOKEN };
  repeating = { url: fake.url, project: 3001, token: REPEAT_TOKEN };
  repeatingEvents = { url: fake.url, project: 4001, token: EVENTS_TOKEN };
  longitudinal = { url: fake.url, project: 2001, token: LONG_TOKEN };
});
afterEach(() => fake.heal());
afterAll(() => fake.close());

/** The fields each project's config reads (the record id field first), as the intake asks for them. */
const FIELDS: Record<number, string[]> = {
  1234: ['record_id', 'session_id', 'scan_date', 'comments', 'ra_id', 'mri_scan_log_complete'],
  2001: ['record_id', 'session_id', 'scan_date', 'comments', 'scan_visit_complete'],
  3001: ['record_id', 'session_id', 'scan_date', 'comments', 'ra_id', 'mri_scan_log_complete'],
  4001: ['record_id', 'session_id', 'scan_date', 'comments'],
};
const read = (endpoint: RedcapEndpoint, record: string, ...rest: [string?, RepeatInstance?]) =>
  client.exportRecord(endpoint, record, FIELDS[endpoint.project] ?? [], ...rest);

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

test('Export Records of a classic record: the one row, only the fields asked for, asked the way REDCap expects', async () => {
  const row = await read(classic, '17');
  const { dob: _dob, mrn: _mrn, ...configured } = redcapFixtureRows('export-classic.json')[0];
  expect(row).toEqual(configured);
  expect(readScanEntry(row, fields, '17')).toEqual({
    sessionName: 'spn01_cmh_0001_01_01',
    entryDate: '2026-11-20',
    comment: 'Fieldmap repeated',
    user: '42',
  });
  const call = fake.calls.at(-1)!;
  expect(call).toMatchObject({ content: 'record', record: '17', tokenValid: true, status: 200 });
  expect(call.params).toEqual({
    content: 'record',
    format: 'json',
    type: 'flat',
    'records[0]': '17',
    'fields[0]': 'record_id',
    'fields[1]': 'session_id',
    'fields[2]': 'scan_date',
    'fields[3]': 'comments',
    'fields[4]': 'ra_id',
    'fields[5]': 'mri_scan_log_complete',
    returnFormat: 'json',
  });
});

test('the test REDCap refuses any export that asks for more than a config reads', async () => {
  const ask = async (params: Record<string, string>) => {
    const res = await fetch(`${fake.url}api/`, {
      method: 'POST',
      body: new URLSearchParams({
        token: CLASSIC_TOKEN,
        content: 'record',
        format: 'json',
        type: 'flat',
        returnFormat: 'json',
        ...params,
      }),
    });
    return { status: res.status, error: ((await res.json()) as { error?: string }).error };
  };
  expect(await ask({ 'records[0]': '17' })).toEqual({
    status: 400,
    error: expect.stringMatching(/without fields\[\]/),
  });
  expect(await ask({ 'records[0]': '17', 'fields[0]': 'record_id', 'forms[0]': 'mri_scan_log' })).toEqual({
    status: 400,
    error: expect.stringMatching(/forms\[\]/),
  });
  for (const field of PARTICIPANT_ONLY_FIELDS) {
    expect(await ask({ 'records[0]': '17', 'fields[0]': 'record_id', 'fields[1]': field })).toMatchObject({
      status: 400,
    });
  }
  // As REDCap: a field the project does not have is refused; without the record id field, no event columns.
  expect((await ask({ 'fields[0]': 'sesion_id' })).error).toBe(
    'The following values in the parameter "fields" are not valid: \'sesion_id\'',
  );
  const page = await client.exportRecordRows(longitudinal, ['CMH0042'], ['session_id']);
  expect(page).toEqual([{ session_id: 'SPN01_CMH_0042_01_01' }, { session_id: 'SPN01_CMH_0042_02_01' }]);
});

test('the record id field is read once per project and then remembered', async () => {
  const metadataCalls = () => fake.callsFor('metadata').filter((call) => call.tokenValid).length;
  const before = metadataCalls();
  expect(await client.recordIdField(repeatingEvents)).toBe('record_id');
  expect(await client.recordIdField(repeatingEvents, 'record 5')).toBe('record_id');
  expect(metadataCalls()).toBe(before + 1);
  const err = await failure(new RedcapClient().recordIdField({ ...classic, token: 'WRONG' }, 'record 17'));
  expect(err.message).toMatch(
    /Export Metadata for record 17 of REDCap project 1234 \(its record id field\): REDCap answered 403/,
  );
});

test('longitudinal: only the row of the trigger event, and the event id from Export Events', async () => {
  const row = await read(longitudinal, 'CMH0042', 'month_6_arm_1');
  expect(row).toMatchObject({
    redcap_event_name: 'month_6_arm_1',
    session_id: 'SPN01_CMH_0042_02_01',
    scan_date: '2026-11-03',
  });
  expect(fake.calls.at(-1)?.params['events[0]']).toBe('month_6_arm_1');
  expect((await client.exportEvents(longitudinal)).get('month_6_arm_1')).toBe(42);
});

test('longitudinal without an event: more than one row is refused, naming the record', async () => {
  const err = await failure(read(longitudinal, 'CMH0042'));
  expect(err).toMatchObject({ type: 'RedcapAmbiguousRecord', retryable: false });
  expect(err.message).toMatch(/2 rows for record CMH0042/);
});

test('a repeating instrument: the row of the instance (a number in the JSON), or the base row without one', async () => {
  const row = await read(repeating, '331-2', undefined, { instance: 2, instrument: 'mri_scan_log' });
  expect(row).toMatchObject({
    redcap_repeat_instance: '2',
    session_id: 'SPN01_CMH_0331_01_02',
    comments: 'Repeat of the resting state: motion in run 1',
  });
  expect((await read(repeating, '331-2', undefined, { instance: 1, instrument: 'mri_scan_log' })).scan_date).toBe(
    '2026-11-02',
  );
  expect(await read(repeating, '331-2')).toMatchObject({ redcap_repeat_instance: '', session_id: '' });
  expect((await read(repeating, 'Zoë 7', undefined, { instance: 1, instrument: 'mri_scan_log' })).session_id).toBe(
    'SPN01_ZHH_0007_01_01',
  );
  expect(fake.callsFor('record', 'Zoë 7').at(-1)?.params['records[0]']).toBe('Zoë 7');
});

test('a repeating event: the row of the event and instance, not an instance of another repeating form', async () => {
  const row = await read(repeatingEvents, '5', 'scan_arm_1', { instance: 2, instrument: 'scan_log' });
  expect(row).toMatchObject({ redcap_event_name: 'scan_arm_1', redcap_repeat_instance: '2', comments: 'third' });
  expect((await read(repeatingEvents, '5', 'baseline_arm_1')).session_id).toBe('SPN01_CMH_0005_01_01');
});

test('no row for the instance: not retryable, and the error names the record, event and instance', async () => {
  const err = await failure(read(repeatingEvents, '5', 'scan_arm_1', { instance: 3, instrument: 'scan_log' }));
  expect(err).toMatchObject({
    type: 'RedcapRecordNotFound',
    retryable: false,
    details: { record: '5', eventName: 'scan_arm_1', instance: 3 },
  });
  expect(err.message).toBe('REDCap has no record 5 (event scan_arm_1, instance 3) of REDCap project 4001');
});

test('Import Records (as a user changes a record through the API) changes what Export Records answers', async () => {
  const token = 'AAAA0000BBBB1111CCCC2222DDDD3333';
  fake.addProject({ token, records: redcapFixtureRepeatRows('export-repeating.json') });
  const res = await fetch(`${fake.url}api/`, {
    method: 'POST',
    body: new URLSearchParams({
      token,
      content: 'record',
      format: 'json',
      type: 'flat',
      returnFormat: 'json',
      data: JSON.stringify([
        {
          record_id: '331-2',
          redcap_repeat_instrument: 'mri_scan_log',
          redcap_repeat_instance: '2',
          comments: 'corrected',
          session_id: '',
        },
        {
          record_id: '331-2',
          redcap_repeat_instrument: 'mri_scan_log',
          redcap_repeat_instance: '3',
          session_id: 'SPN01_CMH_0331_01_03',
          scan_date: '2026-11-20',
          comments: '',
        },
      ]),
    }),
  });
  expect(await res.json()).toEqual({ count: 1 });
  const endpoint = { url: fake.url, project: 3001, token };
  expect(await read(endpoint, '331-2', undefined, { instance: 2, instrument: 'mri_scan_log' })).toMatchObject({
    comments: 'corrected',
    session_id: 'SPN01_CMH_0331_01_02',
  });
  expect((await read(endpoint, '331-2', undefined, { instance: 3, instrument: 'mri_scan_log' })).session_id).toBe(
    'SPN01_CMH_0331_01_03',
  );
});

test('zero rows (unknown record or event) is not retryable and names the record', async () => {
  const missing = await failure(read(classic, '999'));
  expect(missing).toMatchObject({ type: 'RedcapRecordNotFound', retryable: false });
  expect(missing.message).toMatch(/no record 999 of REDCap project 1234/);
  const noEvent = await failure(read(longitudinal, 'CMH0042', 'month_12_arm_1'));
  expect(noEvent.message).toMatch(/CMH0042 \(event month_12_arm_1\)/);
});

test('a bad token: 403 with REDCap reason, not retryable, token not in the error', async () => {
  const err = await failure(read({ ...classic, token: 'WRONG' }, '17'));
  expect(err).toMatchObject({ type: 'RedcapAccessDenied', retryable: false });
  expect(err.message).toMatch(/403: You do not have permissions to use the API/);
  fake.forbid();
  const forbidden = await failure(read(classic, '17'));
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
    const err = await failure(read(classic, '17'));
    expect({ status, type: err.type, retryable: err.retryable }).toEqual({ status, type, retryable });
    expect(err.message).toContain(`answered ${status}`);
  }
  // After the failures, it answers again.
  expect((await read(classic, '17')).record_id).toBe('17');
});

test('a slow REDCap times out (retryable) instead of hanging', async () => {
  fake.slow(3_000);
  const err = await failure(read(classic, '17'));
  expect(err).toMatchObject({ type: 'RedcapUnavailable', retryable: true });
  expect(err.message).toMatch(/no answer within 1 s/);
});

test('a REDCap nobody listens on is a retryable network error', async () => {
  const err = await failure(read({ ...classic, url: `http://127.0.0.1:${await freePort()}/` }, '17'));
  expect(err).toMatchObject({ type: 'RedcapUnavailable', retryable: true });
  expect(err.message).toMatch(/could not be reached \(ECONNREFUSED\)/);
});

test('REDCap going away and back: a call after it reaches the server that is back, never a silent old connection', async () => {
  // Its own fake: vanish() silences every connection of the server it is called on.
  const redcap = await FakeRedcap.start();
  try {
    redcap.addProject({ token: CLASSIC_TOKEN, records: redcapFixtureRows('export-classic.json') });
    const endpoint = { url: redcap.url, project: 1234, token: CLASSIC_TOKEN };
    expect((await client.exportRecord(endpoint, '17', ['record_id'])).record_id).toBe('17');
    // Three calls answered 503 while it was down, as in the reconciliation that hung.
    redcap.failNext(3, 503);
    for (let i = 0; i < 3; i++)
      await expect(client.exportRecordIdField(endpoint)).rejects.toMatchObject({ type: 'RedcapUnavailable' });
    redcap.vanish(); // what was connected to it is gone; it answers new connections
    expect(await client.exportRecordIdField(endpoint)).toBe('record_id');
    expect((await client.exportRecord(endpoint, '17', ['record_id'])).record_id).toBe('17');
    expect(redcap.calls.map((call) => call.status)).toEqual([200, 503, 503, 503, 200, 200]);
  } finally {
    await redcap.close();
  }
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
    expect(err).toMatchObject({
      type: 'RedcapFieldMissing',
      retryable: false,
      details: { record: '17', field: 'session_id' },
    });
  }
  // The message names the field and the problem, never the value (it reaches the intake's history): the details have it.
  const notADate = (() => {
    try {
      readScanEntry({ ...row, scan_date: '20/11/2026' }, fields, '17');
    } catch (err) {
      return err;
    }
  })() as RedcapError;
  expect(notADate.message).toBe('REDCap record 17 field "scan_date" (the scan date) is not a date (YYYY-MM-DD)');
  expect(notADate).toMatchObject({ type: 'RedcapFieldInvalid', details: { field: 'scan_date', value: '20/11/2026' } });
  expect(readScanEntry({ ...row, ra_id: '' }, fields, '17').user).toBeNull();
  expect(readScanEntry(row, { ...fields, userField: null }, '17').user).toBeNull();
});

describe('Export Records by date range, in pages (reconciliation)', () => {
  const HOUR = 3_600_000;
  const rows = ['a', 'b', 'c', 'd'].map((record) => ({
    ...redcapFixtureRows('export-classic.json')[0],
    record_id: record,
  }));
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

  test.each([-14 * 60, -300, 0, 330, 14 * 60])(
    'a REDCap at UTC %s min: every record changed since the last run comes back, whatever its zone',
    async (offset) => {
      const lastRun = Date.now() - 3 * HOUR;
      const endpoint = zoneProject(offset, {
        a: lastRun - 40 * HOUR,
        b: lastRun + 1_000,
        c: Date.now(),
        d: lastRun - 10 * 60_000,
      });
      const { begin } = reconcileWindow(new Date(), { reconciledUntil: new Date(lastRun), lookbackMs: HOUR });
      const names = await client.exportRecordNamesSince(endpoint, 'record_id', begin);
      // b and c changed after the last run; d, 10 minutes before it, is within the margin in any zone; a is long before.
      expect(names).toEqual(['b', 'c', 'd']);
      expect(fake.calls.at(-1)?.params).toMatchObject({
        content: 'record',
        'fields[0]': 'record_id',
        dateRangeBegin: begin,
      });
    },
  );

  test('REDCap reads dateRangeBegin in its own clock', async () => {
    const at = Date.now() - 10 * HOUR;
    const begin = redcapDateTime(new Date(at - HOUR)); // an hour before the change, in UTC
    expect(
      await client.exportRecordNamesSince(zoneProject(-300, { a: at, b: at, c: at, d: at }), 'record_id', begin),
    ).toEqual([]);
    expect(
      await client.exportRecordNamesSince(zoneProject(300, { a: at, b: at, c: at, d: at }), 'record_id', begin),
    ).toEqual(['a', 'b', 'c', 'd']);
  });

  test('a page of records, only the fields asked for', async () => {
    const page = await client.exportRecordRows(longitudinal, ['CMH0042'], ['record_id', 'session_id']);
    expect(page).toEqual([
      { record_id: 'CMH0042', redcap_event_name: 'baseline_arm_1', session_id: expect.any(String) },
      { record_id: 'CMH0042', redcap_event_name: 'month_6_arm_1', session_id: 'SPN01_CMH_0042_02_01' },
    ]);
    expect(fake.calls.at(-1)?.params).toMatchObject({
      'records[0]': 'CMH0042',
      'fields[0]': 'record_id',
      'fields[1]': 'session_id',
    });
  });
});
