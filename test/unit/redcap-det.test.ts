/** Parsing REDCap Data Entry Triggers (pure code), on the fixtures REDCap sends. */
import { BadRequestError } from '../../src/errors';
import { flattenFields, incompleteReason, parseDataEntryTrigger } from '../../src/redcap/det';
import { normalizeRedcapUrl } from '../../src/redcap/urls';
import { detFixtureFields } from '../support/fake-redcap';

const config = { completedField: 'mri_scan_log_complete', completedValue: '2' };

test('a classic project trigger', () => {
  const trigger = parseDataEntryTrigger(detFixtureFields('det-classic-complete.form'));
  expect(trigger).toMatchObject({
    record: '17',
    projectId: 1234,
    redcapUrl: 'https://redcap.example.org/',
    instrument: 'mri_scan_log',
    projectUrl: 'https://redcap.example.org/redcap_v14.5.2/index.php?pid=1234',
    username: 'jdoe',
  });
  expect(trigger.eventName).toBeUndefined();
  expect(incompleteReason(trigger, config)).toBeUndefined();
});

test('a longitudinal trigger carries its event', () => {
  const trigger = parseDataEntryTrigger(detFixtureFields('det-longitudinal.form'));
  expect(trigger).toMatchObject({
    record: 'CMH0042',
    projectId: 2001,
    instrument: 'scan_visit',
    eventName: 'month_6_arm_1',
  });
  expect(incompleteReason(trigger, { completedField: 'scan_visit_complete', completedValue: '2' })).toBeUndefined();
});

test('an incomplete form says why it is ignored', () => {
  const trigger = parseDataEntryTrigger(detFixtureFields('det-classic-incomplete.form'));
  expect(incompleteReason(trigger, config)).toBe('mri_scan_log_complete is "0", not "2" (the form is not complete)');
  expect(incompleteReason(trigger, { completedField: 'other_complete', completedValue: '2' })).toMatch(
    /no other_complete field/,
  );
});

test('missing keys: a 400 that lists the keys found, not their values', () => {
  const fields = detFixtureFields('det-classic-complete.form');
  delete fields.record;
  delete fields.project_url;
  let error: BadRequestError | undefined;
  try {
    parseDataEntryTrigger(fields);
  } catch (err) {
    error = err as BadRequestError;
  }
  expect(error).toBeInstanceOf(BadRequestError);
  expect(error!.status).toBe(400);
  expect(error!.message).toMatch(/missing record, project_url/);
  expect(error!.details).toEqual({
    missing: ['record', 'project_url'],
    keysFound: ['instrument', 'mri_scan_log_complete', 'project_id', 'redcap_url', 'username'],
  });
  expect(JSON.stringify(error!.details)).not.toMatch(/jdoe/);
});

test('empty values count as missing; malformed values name the key', () => {
  expect(() => parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), instrument: ' ' })).toThrow(
    /missing instrument/,
  );
  expect(() => parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), project_id: '12a' })).toThrow(
    /project_id must be a whole number/,
  );
  expect(() =>
    parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), redcap_url: 'ftp://x/' }),
  ).toThrow(/redcap_url/);
});

test('REDCap URLs are compared with exactly one trailing slash', () => {
  expect(normalizeRedcapUrl('https://redcap.example.org')).toBe('https://redcap.example.org/');
  expect(normalizeRedcapUrl(' https://redcap.example.org/redcap// ')).toBe('https://redcap.example.org/redcap/');
  const trigger = parseDataEntryTrigger({
    ...detFixtureFields('det-classic-complete.form'),
    redcap_url: 'https://redcap.example.org',
  });
  expect(trigger.redcapUrl).toBe('https://redcap.example.org/');
});

test('text that cannot be stored as sent (NUL, unpaired surrogates) is a 400 naming the key', () => {
  for (const key of ['record', 'instrument', 'redcap_url', 'project_url', 'redcap_event_name', 'username']) {
    const fields = detFixtureFields('det-classic-complete.form');
    expect(() => parseDataEntryTrigger({ ...fields, [key]: `${fields[key] ?? 'x'}\u0000` })).toThrow(
      new RegExp(`${key} contains a NUL`),
    );
  }
  expect(() => parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), record: 'a\ud800' })).toThrow(
    /record contains/,
  );
  // A paired surrogate (an emoji) is fine.
  expect(parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), record: '😀' }).record).toBe('😀');
});

test('sizes: record up to 200, event name up to 100, project id up to a PostgreSQL integer', () => {
  const fields = detFixtureFields('det-longitudinal.form');
  expect(parseDataEntryTrigger({ ...fields, record: 'r'.repeat(200) }).record).toHaveLength(200);
  expect(() => parseDataEntryTrigger({ ...fields, record: 'r'.repeat(201) })).toThrow(/record/);
  expect(() => parseDataEntryTrigger({ ...fields, redcap_event_name: 'e'.repeat(101) })).toThrow(/redcap_event_name/);
  expect(parseDataEntryTrigger({ ...fields, project_id: '0000000000000002001' }).projectId).toBe(2001);
  expect(parseDataEntryTrigger({ ...fields, project_id: '2147483647' }).projectId).toBe(2147483647);
  for (const id of ['2147483648', '9'.repeat(400)])
    expect(() => parseDataEntryTrigger({ ...fields, project_id: id })).toThrow(/project_id must be at most/);
});

test('JSON bodies are flattened to string fields; nested values are dropped; __proto__ is a plain key', () => {
  const fields = flattenFields(
    JSON.parse('{"record": 17, "ok": true, "nested": {"a": 1}, "list": [1], "__proto__": "x", "none": null}'),
  );
  expect(fields).toEqual({ record: '17', ok: 'true', ['__proto__']: 'x' });
  expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
  expect(flattenFields([1, 2])).toEqual({});
  expect(flattenFields('text')).toEqual({});
});

test('a repeating instrument or event: the instance (and the instrument) come with the trigger', () => {
  const fields = detFixtureFields('det-classic-complete.form');
  expect(
    parseDataEntryTrigger({ ...fields, redcap_repeat_instrument: 'mri_scan_log', redcap_repeat_instance: '3' }),
  ).toMatchObject({
    instance: 3,
    repeatInstrument: 'mri_scan_log',
  });
  // A repeating event has no instrument; an empty instance is absent, as REDCap leaves it for forms that do not repeat.
  expect(parseDataEntryTrigger({ ...fields, redcap_repeat_instance: ' 12 ' })).toMatchObject({
    instance: 12,
    repeatInstrument: undefined,
  });
  expect(parseDataEntryTrigger({ ...fields, redcap_repeat_instance: '' }).instance).toBeUndefined();
  expect(parseDataEntryTrigger({ ...fields, redcap_repeat_instance: '2147483647' }).instance).toBe(2147483647);
  expect(parseDataEntryTrigger(fields).instance).toBeUndefined();
});

test.each([['0'], ['-1'], ['1.5'], ['two'], ['2147483648'], ['1e3'], ['0x10']])(
  'an instance of %p is a 400 naming redcap_repeat_instance',
  (instance) => {
    let error: BadRequestError | undefined;
    try {
      parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), redcap_repeat_instance: instance });
    } catch (err) {
      error = err as BadRequestError;
    }
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error!.message).toMatch(/redcap_repeat_instance must be a positive whole number/);
    expect(error!.details).toMatchObject({ invalid: ['redcap_repeat_instance'] });
  },
);

test('a repeating instrument without its instance is a 400 naming redcap_repeat_instance', () => {
  expect(() =>
    parseDataEntryTrigger({
      ...detFixtureFields('det-classic-complete.form'),
      redcap_repeat_instrument: 'mri_scan_log',
    }),
  ).toThrow(/redcap_repeat_instrument is set but redcap_repeat_instance is missing/);
});
