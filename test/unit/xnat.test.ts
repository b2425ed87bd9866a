/** The pure parts of XNAT: its zone-less times, labels and session ids, and what the sync keeps of a listing. */
import fc from 'fast-check';
import type { XnatExperiment } from '../../src/xnat/client';
import { labelNamesSession, labelPatterns, sessionOfLabel } from '../../src/xnat/labels';
import { changedSince, latestUpload, sortLabels, SYNC_MARGIN_MS } from '../../src/xnat/sync';
import { formatXnatTime, parseXnatTime } from '../../src/xnat/time';
import { parseSessionId } from '../../src/sessions/ids';

describe('XNAT times', () => {
  test.each([
    ['2021-03-18 11:33:11.835', 'UTC', '2021-03-18T11:33:11.835Z'],
    ['2021-03-18 11:33:11.835', 'America/Toronto', '2021-03-18T15:33:11.835Z'], // EDT
    ['2021-12-29 10:11:28.996', 'America/Toronto', '2021-12-29T15:11:28.996Z'], // EST
    ['2022-01-18 16:41:25.0', 'Asia/Kolkata', '2022-01-18T11:11:25.000Z'],
    ['2026-11-20 17:40:12.9', 'Europe/Berlin', '2026-11-20T16:40:12.900Z'],
    ['2026-11-20 17:40', 'UTC', '2026-11-20T17:40:00.000Z'],
    ['2026-11-20T17:40:12', 'UTC', '2026-11-20T17:40:12.000Z'],
  ])('%s in %s is %s', (text, zone, iso) => {
    expect(parseXnatTime(text, zone)?.toISOString()).toBe(iso);
  });

  test.each([[''], [null], [undefined], ['20211229_101128996'], ['yesterday'], [42]])('%p is no time', (value) => {
    expect(parseXnatTime(value, 'UTC')).toBeUndefined();
  });

  test('a time written in a zone reads back as the same instant, across the year and its clock changes', () => {
    const zones = [
      'UTC',
      'America/Toronto',
      'Europe/London',
      'Australia/Sydney',
      'Asia/Kathmandu',
      'Pacific/Kiritimati',
    ];
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z') }),
        fc.constantFrom(...zones),
        (date, zone) => {
          const back = parseXnatTime(formatXnatTime(date, zone), zone)!;
          // An hour that a clock change repeats reads as one of its two instants.
          expect([0, 3_600_000]).toContain(Math.abs(back.getTime() - date.getTime()));
        },
      ),
    );
    expect(formatXnatTime(new Date('2026-11-20T19:40:12.900Z'), 'America/Toronto')).toBe('2026-11-20 14:40:12.900');
  });
});

describe('labels and session ids', () => {
  test.each([
    ['SPN01_CMH_0001_01_01', 'SPN01_CMH_0001_01_01'],
    ['spn01_cmh_0001_01_01', 'SPN01_CMH_0001_01_01'],
    ['SPN01_CMH_0001_01', 'SPN01_CMH_0001_01_01'],
    ['SPN01_CMH_0001_01_SE02_MR', 'SPN01_CMH_0001_01_02'],
    ['SPN01_CMH_PHA_FBN0013', 'SPN01_CMH_PHA_FBN0013_01'],
    ['SPN01_CMH_FBNPHA_0013_MR', 'SPN01_CMH_PHA_FBN0013_01'],
  ])('%s names %s', (label, sessionId) => {
    expect(sessionOfLabel(label)).toMatchObject({ sessionId });
    expect(labelNamesSession(label, sessionId)).toBe(true);
  });

  test.each([['SPN01_CMH_0001_01_011'], ['SPN01_CMH'], ['CMH_20261120_P0003'], ['SPN01_CMH_FBNPHA_0013'], ['']])(
    '%p names no session, and says why',
    (label) => {
      const found = sessionOfLabel(label);
      expect(found).toEqual({ problem: expect.stringMatching(/^Invalid session id/) });
      expect(labelNamesSession(label, 'SPN01_CMH_0001_01_01')).toBe(false);
    },
  );

  test('the filter patterns find every label of a session (datman, KCNI, phantoms of both)', () => {
    expect(labelPatterns(parseSessionId('SPN01_CMH_0001_01_02'))).toEqual(['SPN01_CMH_0001_01*']);
    expect(labelPatterns(parseSessionId('SPN01_CMH_PHA_FBN0013'))).toEqual([
      'SPN01_CMH_PHA_FBN0013*',
      'SPN01_CMH_FBNPHA_0013*',
    ]);
    // What every pattern must find, read as XNAT reads it (a LIKE: * any text, _ any character).
    const like = (pattern: string, label: string) =>
      new RegExp(`^${pattern.replace(/[*]/g, '.*').replace(/_/g, '.')}$`).test(label);
    for (const [label, sessionId] of [
      ['SPN01_CMH_0001_01', 'SPN01_CMH_0001_01_01'],
      ['SPN01_CMH_0001_01_SE01_MR', 'SPN01_CMH_0001_01_01'],
      ['SPN01_CMH_FBNPHA_0013_MR', 'SPN01_CMH_PHA_FBN0013_01'],
      ['SPN01_CMH_PHA_FBN0013_01', 'SPN01_CMH_PHA_FBN0013_01'],
    ]) {
      expect(labelPatterns(parseSessionId(sessionId)).some((pattern) => like(pattern, label))).toBe(true);
    }
  });
});

describe('what the sync keeps of a listing', () => {
  const experiment = (label: string, insertDate?: string, lastModified?: string, id = label): XnatExperiment => ({
    id,
    label,
    project: 'SPN01_CMH',
    insertDate,
    lastModified,
  });
  const holds = { project: 'SPN01_CMH', studyId: 'SPN01', code: 'SPN01', site: 'CMH' };

  test('added or changed since the last run, less the margin; every one on a first run; those without times too', () => {
    const since = new Date('2026-11-22T12:00:00Z');
    const listing = [
      experiment('OLD', '2026-11-01 10:00:00.0'),
      experiment('OLD_CHANGED', '2026-11-01 10:00:00.0', '2026-11-22 12:30:00.0'),
      experiment('JUST_BEFORE', '2026-11-22 11:30:00.0'), // within the margin
      experiment('NEW', '2026-11-22 12:10:00.0'),
      experiment('NO_TIMES'),
    ];
    expect(SYNC_MARGIN_MS).toBe(3_600_000);
    expect(changedSince(listing, since, 'UTC').map((e) => e.label)).toEqual([
      'OLD_CHANGED',
      'JUST_BEFORE',
      'NEW',
      'NO_TIMES',
    ]);
    // In Toronto (UTC-5), 11:30 local is 16:30 UTC: after the run.
    expect(changedSince(listing, since, 'America/Toronto').map((e) => e.label)).toContain('JUST_BEFORE');
    expect(changedSince([experiment('JUST_BEFORE', '2026-11-22 06:30:00.0')], since, 'America/Toronto')).toEqual([
      experiment('JUST_BEFORE', '2026-11-22 06:30:00.0'),
    ]);
    expect(changedSince(listing, null, 'UTC')).toEqual(listing);
  });

  test('labels become session ids; a label of no session, or of another study or site, is a problem with the label', () => {
    const { sessions, problems } = sortLabels(
      [
        experiment('SPN01_CMH_0001_01_01', undefined, undefined, 'E1'),
        experiment('SPN01_CMH_0002_01_SE01_MR', undefined, undefined, 'E2'),
        experiment('CMH_TEST_SCAN', undefined, undefined, 'E3'),
        experiment('SPN01_ZHH_0004_01_01', undefined, undefined, 'E4'),
        experiment('SPN02_CMH_0005_01_01', undefined, undefined, 'E5'),
      ],
      holds,
    );
    expect(sessions.map((s) => [s.sessionId, s.experiment.id])).toEqual([
      ['SPN01_CMH_0001_01_01', 'E1'],
      ['SPN01_CMH_0002_01_01', 'E2'],
    ]);
    expect(problems).toEqual([
      {
        experiment: 'E3',
        label: 'CMH_TEST_SCAN',
        reason: expect.stringMatching(/^Invalid session id "CMH_TEST_SCAN": it fits no known convention/),
      },
      {
        experiment: 'E4',
        label: 'SPN01_ZHH_0004_01_01',
        reason:
          'label "SPN01_ZHH_0004_01_01" names study code SPN01 at site ZHH, but XNAT project SPN01_CMH holds SPN01 at CMH (code SPN01)',
      },
      {
        experiment: 'E5',
        label: 'SPN02_CMH_0005_01_01',
        reason: expect.stringMatching(/names study code SPN02 at site CMH/),
      },
    ]);
  });

  test('the latest upload: archived or in the prearchive', () => {
    const archived = [
      experiment('A', '2026-11-20 10:00:00.0'),
      experiment('B', '2026-11-21 09:00:00.0'),
      experiment('C'),
    ];
    expect(latestUpload(archived, [], 'UTC')?.toISOString()).toBe('2026-11-21T09:00:00.000Z');
    expect(latestUpload(archived, [{ name: 'X', uploaded: '2026-11-22 08:00:00.0' }], 'UTC')?.toISOString()).toBe(
      '2026-11-22T08:00:00.000Z',
    );
    expect(latestUpload([experiment('C')], [], 'UTC')).toBeUndefined();
  });
});
