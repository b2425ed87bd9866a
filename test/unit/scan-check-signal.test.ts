/**
 * broughtCheck: what ScanImportWorkflow takes from a `scansArrived` argument. Anyone may send the signal (ops, the
 * Web UI), so only a well-formed check stands in for the database read; anything else means "read it".
 */
import { broughtCheck } from '../../workflows/scan-check';

test('a well-formed check is taken as it is', () => {
  expect(broughtCheck({ check: { missingScans: false, scans: 3 } })).toEqual({ missingScans: false, scans: 3 });
  expect(broughtCheck({ check: { missingScans: true, scans: 0, cancelled: { reason: 'withdrew' } } })).toEqual({
    missingScans: true,
    scans: 0,
    cancelled: { reason: 'withdrew' },
  });
});

test('a cancel with no usable reason is still a cancel', () => {
  expect(broughtCheck({ check: { missingScans: true, scans: 0, cancelled: {} } })).toEqual({
    missingScans: true,
    scans: 0,
    cancelled: {},
  });
  expect(broughtCheck({ check: { missingScans: true, scans: 0, cancelled: { reason: 42 } } })).toEqual({
    missingScans: true,
    scans: 0,
    cancelled: {},
  });
});

test('no argument, or anything but a well-formed check, means: read the database', () => {
  for (const arrived of [
    undefined,
    null,
    'yes',
    7,
    [],
    {},
    { check: null },
    { check: 'present' },
    { check: { scans: 2 } },
    { check: { missingScans: 'no', scans: 2 } },
    { check: { missingScans: false, scans: '2' } },
  ]) {
    expect(broughtCheck(arrived)).toBeUndefined();
  }
});

test('fields it does not know are left behind', () => {
  expect(broughtCheck({ check: { missingScans: false, scans: 1, extra: 'x' }, other: true })).toEqual({
    missingScans: false,
    scans: 1,
  });
});
