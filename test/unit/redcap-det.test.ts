/** Parsing REDCap Data Entry Triggers (pure code), on the fixtures REDCap sends. */
import { BadRequestError } from '../../src/errors';
import { incompleteReason, normalizeRedcapUrl, parseDataEntryTrigger } from '../../src/redcap/det';
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
  expect(trigger).toMatchObject({ record: 'CMH0042', projectId: 2001, instrument: 'scan_visit', eventName: 'month_6_arm_1' });
  expect(incompleteReason(trigger, { completedField: 'scan_visit_complete', completedValue: '2' })).toBeUndefined();
});

test('an incomplete form says why it is ignored', () => {
  const trigger = parseDataEntryTrigger(detFixtureFields('det-classic-incomplete.form'));
  expect(incompleteReason(trigger, config)).toBe('mri_scan_log_complete is "0", not "2" (the form is not complete)');
  expect(incompleteReason(trigger, { completedField: 'other_complete', completedValue: '2' })).toMatch(/no other_complete field/);
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
  expect(() => parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), instrument: ' ' })).toThrow(/missing instrument/);
  expect(() => parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), project_id: '12a' })).toThrow(
    /project_id must be a whole number/,
  );
  expect(() => parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), redcap_url: 'ftp://x/' })).toThrow(/redcap_url/);
});

test('REDCap URLs are compared with exactly one trailing slash', () => {
  expect(normalizeRedcapUrl('https://redcap.example.org')).toBe('https://redcap.example.org/');
  expect(normalizeRedcapUrl(' https://redcap.example.org/redcap// ')).toBe('https://redcap.example.org/redcap/');
  const trigger = parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), redcap_url: 'https://redcap.example.org' });
  expect(trigger.redcapUrl).toBe('https://redcap.example.org/');
});
