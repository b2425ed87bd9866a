/** The pure parts of the lab's view: the CSV and its formula guard, the digest's text, the list's query and cursor. */
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { dayIn } from '../../src/lab-data/digest';
import { encodeCursor, parseListQuery } from '../../src/lab-data/list';
import {
  neutralizeFormula,
  OUTSTANDING_COLUMNS,
  outstandingCsv,
  type OutstandingItem,
} from '../../src/lab-data/outstanding';
import { digestLines, labDigestEmail, type DigestFacts } from '../../src/mail/digest';

const item = (changes: Partial<OutstandingItem>): OutstandingItem => ({
  kind: 'problem',
  studyId: 'SPN01',
  siteId: 'CMH',
  sessionId: null,
  date: null,
  since: '2026-12-01T08:00:00.000Z',
  ageDays: 2,
  recordName: '17',
  record: null,
  reason: 'x',
  ...changes,
});

describe('the CSV', () => {
  test.each(['=1+2', '+1', '-1', '@SUM(A1)', '\tx', '\rx'])('a cell starting %j gets a leading quote', (value) => {
    expect(neutralizeFormula(value)).toBe(`'${value}`);
  });
  test.each(['17', 'a=b', 'SPN01_CMH_0001_01_01', '', "'already"])('%j is left as it is', (value) => {
    expect(neutralizeFormula(value)).toBe(value);
  });

  test('any text parses back as it was written (neutralised), one row per item, a header first', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.fullUnicodeString()), { maxLength: 5 }), (cells) => {
        const items = cells.map(([recordName, reason]) => item({ recordName, reason }));
        const rows: string[][] = parse(outstandingCsv({ studyId: 'SPN01', at: '', counts: {} as never, items }));
        expect(rows[0]).toEqual(OUTSTANDING_COLUMNS);
        expect(rows.slice(1).map((row) => [row[7], row[9]])).toEqual(
          cells.map(([recordName, reason]) => [neutralizeFormula(recordName), neutralizeFormula(reason)]),
        );
      }),
    );
  });
});

describe('the digest', () => {
  const facts = (changes: Partial<DigestFacts> = {}): DigestFacts => ({
    studyId: 'SPN01',
    studyName: 'Social Processes Network',
    day: '2026-12-03',
    timeZone: 'America/Toronto',
    fresh: [],
    open: [],
    missedTriggers: [],
    held: {},
    studyLink: null,
    ...changes,
  });
  const missing = {
    kind: 'missing-scans' as const,
    siteId: 'CMH',
    sessionId: 'SPN01_CMH_0001_01_01',
    date: '2026-11-20',
    since: '2026-11-22T08:00:00.000Z',
    ageDays: 11,
    recordName: '17',
    reason: null,
    link: 'https://lab.example.org/lab/sessions/SPN01_CMH_0001_01_01',
  };

  test('nothing to tell: no lines (and so no email)', () => {
    expect(digestLines(facts())).toBe(0);
    expect(digestLines(facts({ held: { 'intake-failed': 0 } }))).toBe(0);
    expect(digestLines(facts({ held: { 'intake-failed': 2 } }))).toBe(2);
  });

  test('the subject counts what needs a person, in the singular where it is one', () => {
    expect(labDigestEmail(facts({ open: [missing] })).subject).toBe(
      '[SPN01] Daily scan report: 1 missing scan, 0 without REDCap',
    );
    const quiet = { ...missing, kind: 'quiet-site' as const, sessionId: null, reason: 'no upload since …' };
    const problem = { ...missing, kind: 'problem' as const, reason: 'bad id' };
    expect(labDigestEmail(facts({ fresh: [missing, missing], open: [quiet, problem, problem] })).subject).toBe(
      '[SPN01] Daily scan report: 2 missing scans, 0 without REDCap, 2 problems, 1 quiet site',
    );
  });

  test('each line says what and since when, with its link', () => {
    const { text } = labDigestEmail(facts({ open: [missing], studyLink: 'https://lab.example.org/lab/studies/SPN01' }));
    expect(text).toContain(
      'Still open:\n  - SPN01_CMH_0001_01_01 (CMH, scanned 2026-11-20): no scan data; the admins were emailed 11 days ago\n' +
        '    https://lab.example.org/lab/sessions/SPN01_CMH_0001_01_01',
    );
    expect(text).toContain("The study's page: https://lab.example.org/lab/studies/SPN01");
    expect(text).not.toContain('New since yesterday:');
  });
});

describe('the list query', () => {
  test('defaults, upper-cased ids, several states', () => {
    expect(parseListQuery({})).toEqual({ limit: 100 });
    expect(parseListQuery({ study: 'spn01', site: 'cmh', state: 'waiting, problem', limit: '500' })).toEqual({
      study: 'SPN01',
      site: 'CMH',
      state: ['waiting', 'problem'],
      limit: 500,
    });
  });

  test('a cursor it gave is taken back; any other text is refused', () => {
    const cursor = encodeCursor({ date: '2026-11-20', id: 'SPN01_CMH_0001_01_01' });
    expect(parseListQuery({ cursor }).cursor).toEqual({ date: '2026-11-20', id: 'SPN01_CMH_0001_01_01' });
    expect(parseListQuery({ cursor: encodeCursor({ date: '-infinity', id: 'X' }) }).cursor).toEqual({
      date: '-infinity',
      id: 'X',
    });
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          parseListQuery({ cursor: text });
        } catch (err) {
          expect((err as Error).message).toMatch(/cursor/);
        }
      }),
    );
  });
});

test('the day of a time in a zone', () => {
  expect(dayIn(new Date('2026-12-03T04:59:00Z'), 'America/Toronto')).toBe('2026-12-02');
  expect(dayIn(new Date('2026-12-03T05:00:00Z'), 'America/Toronto')).toBe('2026-12-03');
  expect(dayIn(new Date('2026-12-03T23:30:00Z'), 'UTC')).toBe('2026-12-03');
});
