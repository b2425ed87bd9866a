import { InvalidSessionIdError, parseSessionId } from '../../src/sessions/ids';

test('datman id with a session number', () => {
  expect(parseSessionId('SPN01_CMH_0001_01_01')).toEqual({
    study: 'SPN01',
    site: 'CMH',
    subject: '0001',
    timepointId: 'SPN01_CMH_0001_01',
    num: 1,
    isPhantom: false,
    sessionId: 'SPN01_CMH_0001_01_01',
  });
  expect(parseSessionId('SPN01_CMH_0001_01_02')).toMatchObject({ num: 2, sessionId: 'SPN01_CMH_0001_01_02' });
});

test('datman id without the session field is session 1', () => {
  expect(parseSessionId('SPN01_CMH_0001_01')).toMatchObject({ timepointId: 'SPN01_CMH_0001_01', num: 1, sessionId: 'SPN01_CMH_0001_01_01' });
});

test('a one-digit session number is written with two digits', () => {
  expect(parseSessionId('SPN01_CMH_0001_01_3').sessionId).toBe('SPN01_CMH_0001_01_03');
});

test('lower-case input and stray whitespace are normalized to upper case', () => {
  expect(parseSessionId('  spn01_cmh_0001_01_01 ').sessionId).toBe('SPN01_CMH_0001_01_01');
  expect(parseSessionId('spn01_cmh_pha_fbn0013').sessionId).toBe('SPN01_CMH_PHA_FBN0013_01');
});

test('phantoms', () => {
  expect(parseSessionId('SPN01_CMH_PHA_FBN0013')).toEqual({
    study: 'SPN01',
    site: 'CMH',
    subject: 'PHA_FBN0013',
    timepointId: 'SPN01_CMH_PHA_FBN0013',
    num: 1,
    isPhantom: true,
    sessionId: 'SPN01_CMH_PHA_FBN0013_01',
  });
  expect(parseSessionId('SPN01_CMH_PHA_FBN0013_01').sessionId).toBe('SPN01_CMH_PHA_FBN0013_01');
});

test('a phantom gets no repeat session', () => {
  expect(() => parseSessionId('SPN01_CMH_PHA_FBN0013_02')).toThrow(/SPN01_CMH_PHA_FBN0013_02.*no repeat sessions/);
});

test('KCNI ids map onto datman', () => {
  expect(parseSessionId('SPN01_CMH_0001_01_SE01_MR')).toMatchObject({ timepointId: 'SPN01_CMH_0001_01', num: 1, sessionId: 'SPN01_CMH_0001_01_01' });
  expect(parseSessionId('spn01_cmh_0001_02_se02_mr').sessionId).toBe('SPN01_CMH_0001_02_02');
});

test.each([
  [''],
  ['   '],
  ['SPN01'],
  ['SPN01_CMH'],
  ['SPN01_CMH_0001'],
  ['SPN01_CMH_0001_01_01_extra_parts'],
  ['SPN01-CMH-0001-01-01'],
  ['SPN01_CMH_0001_01_00'],
  ['SPN01_CMH_PHA_01'],
  ["SPN01_CMH_0001_01_01'; drop table session; --"],
  ['SPN01_ÇMH_0001_01_01'],
])('%p fits no convention and the error names it', (raw) => {
  expect(() => parseSessionId(raw)).toThrow(InvalidSessionIdError);
  try {
    parseSessionId(raw);
  } catch (err) {
    expect((err as Error).message).toContain(`"${raw}"`);
    expect((err as InvalidSessionIdError).status).toBe(400);
  }
});
