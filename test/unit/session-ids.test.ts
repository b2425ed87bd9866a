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
  expect(parseSessionId('SPN01_CMH_0001_01')).toMatchObject({
    timepointId: 'SPN01_CMH_0001_01',
    num: 1,
    sessionId: 'SPN01_CMH_0001_01_01',
  });
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
  expect(parseSessionId('SPN01_CMH_0001_01_SE01_MR')).toMatchObject({
    timepointId: 'SPN01_CMH_0001_01',
    num: 1,
    sessionId: 'SPN01_CMH_0001_01_01',
  });
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

test('KCNI phantoms are filed as the datman phantom', () => {
  expect(parseSessionId('SPN01_CMH_FBNPHA_0013_MR')).toEqual({
    study: 'SPN01',
    site: 'CMH',
    subject: 'PHA_FBN0013',
    timepointId: 'SPN01_CMH_PHA_FBN0013',
    num: 1,
    isPhantom: true,
    sessionId: 'SPN01_CMH_PHA_FBN0013_01',
  });
  expect(parseSessionId('spn01_cmh_fbnpha_0013_mr').sessionId).toBe('SPN01_CMH_PHA_FBN0013_01');
});

test.each([['SPN01_CMH_FBNPHA_0013'], ['SPN01_CMH_FBNPHA_0013_01'], ['SPN01_CMH_ADNPHA_01_SE01_MR']])(
  'a subject ending in PHA without the KCNI phantom form (%p) is refused, naming the id',
  (raw) => {
    expect(() => parseSessionId(raw)).toThrow(InvalidSessionIdError);
    expect(() => parseSessionId(raw)).toThrow(
      new RegExp(`"${raw}": subject \\w+PHA ends in PHA: a KCNI phantom is STUDY_SITE_<TYPE>PHA_<digits>_MR`),
    );
  },
);

/**
 * The parse cases of TIGRLab datman's tests/test_datman_scanid.py that apply here (file names, BIDS names, the
 * `settings` field translations and the conversion to KCNI ids do not: the service only reads session ids). datman
 * keeps a phantom without timepoint and session; here a phantom is the one session _01 of its timepoint.
 */
describe('datman test_datman_scanid.py', () => {
  test.each([[''], ['lkjlksjdf']])('test_parse_empty / test_parse_garbage: %p', (raw) => {
    expect(() => parseSessionId(raw)).toThrow(InvalidSessionIdError);
  });

  test('test_parse_None', () => {
    expect(() => parseSessionId(null as unknown as string)).toThrow(InvalidSessionIdError);
  });

  test('test_parse_good_datman_scanid (and get_full_subjectid_with_timepoint)', () => {
    expect(parseSessionId('DTI_CMH_H001_01_02')).toMatchObject({
      study: 'DTI',
      site: 'CMH',
      subject: 'H001',
      timepointId: 'DTI_CMH_H001_01',
      num: 2,
      isPhantom: false,
    });
  });

  test('test_parse_good_datman_PHA_scanid (and test_PHA_timepoint)', () => {
    expect(parseSessionId('DTI_CMH_PHA_ADN0001')).toMatchObject({
      study: 'DTI',
      site: 'CMH',
      subject: 'PHA_ADN0001',
      timepointId: 'DTI_CMH_PHA_ADN0001',
      isPhantom: true,
    });
  });

  test('test_parse_good_date_based_datman_pha_scanid', () => {
    expect(parseSessionId('OPT01_UTO_PHA_FBN190603')).toMatchObject({
      study: 'OPT01',
      site: 'UTO',
      subject: 'PHA_FBN190603',
      timepointId: 'OPT01_UTO_PHA_FBN190603',
    });
  });

  test('test_parse_good_kcni_scanid', () => {
    expect(parseSessionId('ABC01_CMH_12345678_01_SE02_MR')).toMatchObject({
      study: 'ABC01',
      site: 'CMH',
      subject: '12345678',
      timepointId: 'ABC01_CMH_12345678_01',
      num: 2,
      sessionId: 'ABC01_CMH_12345678_01_02',
    });
  });

  test('test_parse_good_kcni_PHA_scanid', () => {
    expect(parseSessionId('ABC01_CMH_LEGPHA_0001_MR')).toMatchObject({
      study: 'ABC01',
      site: 'CMH',
      subject: 'PHA_LEG0001',
      isPhantom: true,
    });
  });

  test('test_parses_datman_*_as_datman_identifier / test_parses_kcni_*_as_kcni_identifier', () => {
    expect(parseSessionId('DTI01_CMH_H001_01_02').sessionId).toBe('DTI01_CMH_H001_01_02');
    expect(parseSessionId('DTI01_CMH_PHA_FBN0001').sessionId).toBe('DTI01_CMH_PHA_FBN0001_01');
    expect(parseSessionId('DTI01_CMH_H001_01_SE02_MR').sessionId).toBe('DTI01_CMH_H001_01_02');
    expect(parseSessionId('DTI01_CMH_ABCPHA_0001_MR').sessionId).toBe('DTI01_CMH_PHA_ABC0001_01');
  });

  test.each([
    ['DTI01_CMH_H001_01_SE02', 'test_parse_exception_when_kcni_subject_id_modality_missing'],
    ['DTI01_CMH_ABCPHA_0001', 'test_parse_exception_when_kcni_pha_id_modality_missing'],
    ['DTI01_CMH_H001_01_02_MR', 'test_parse_exception_when_kcni_session_malformed'],
    ['garbage', 'test_is_scanid_garbage'],
    ['DTI_CMH_H001', 'test_is_scanid_subjectid_only'],
    ['DTI_CMH_H001_01_01_01_01_01_01', 'test_is_scanid_extra_fields'],
  ])('%p is refused (%s)', (raw) => {
    expect(() => parseSessionId(raw)).toThrow(new RegExp(`Invalid session id "${raw}"`));
  });

  test('test_is_datman_scanid_good / test_is_kcni_scanid_good / test_is_scanid_with_session_when_already_parsed', () => {
    expect(parseSessionId('SPN01_CMH_0002_01_01').sessionId).toBe('SPN01_CMH_0002_01_01');
    expect(parseSessionId('SPN01_CMH_0001_01_SE01_MR').sessionId).toBe('SPN01_CMH_0001_01_01');
    expect(parseSessionId('OPT01_UT2_UT10001_01_01')).toMatchObject({ timepointId: 'OPT01_UT2_UT10001_01', num: 1 });
  });

  test('test_kcni_converted_to_datman_and_back_is_unmodified: KCNI and datman name the same session', () => {
    expect(parseSessionId('SPN01_CMH_0001_01_SE01_MR').sessionId).toBe(
      parseSessionId('SPN01_CMH_0001_01_01').sessionId,
    );
    expect(parseSessionId('ABC01_CMH_FBNPHA_0001_MR').sessionId).toBe(
      parseSessionId('ABC01_CMH_PHA_FBN0001').sessionId,
    );
    expect(parseSessionId('OPT01_UTO_FBNPHA_190603_MR').sessionId).toBe(
      parseSessionId('OPT01_UTO_PHA_FBN190603').sessionId,
    );
  });

  test('test_kcni_id_with_non_mr_modality_is_valid: datman accepts it; here it is refused, naming the modality', () => {
    expect(() => parseSessionId('ABC01_CMH_0001_01_SE01_EEG')).toThrow(
      /"ABC01_CMH_0001_01_SE01_EEG": it is a KCNI id of modality EEG; only MR sessions \(ending _MR\) are monitored/,
    );
  });
});
