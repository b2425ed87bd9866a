/** What the admins' emails say about XNAT (src/mail/xnat.ts): each case in a data manager's words; the reverse email. */
import { downloadGaveUpEmail, noRedcapRecordEmail, noScansEmail, type SessionFacts } from '../../src/mail/templates';
import { describeTime, xnatCaseLines, type XnatFacts } from '../../src/mail/xnat';

const facts: SessionFacts = {
  sessionId: 'SPN01_CMH_0001_01_01',
  studyId: 'SPN01',
  siteId: 'CMH',
  date: '2026-11-20',
  redcap: null,
};
const checkedAt = '2026-11-22T12:00:00.000Z';
const at = (state: XnatFacts['state']): XnatFacts => ({
  project: 'SPN01_CMH',
  url: 'https://xnat.example.org/',
  state,
});

test('times read as UTC minutes', () => {
  expect(describeTime('2026-11-20T19:40:12.900Z')).toBe('2026-11-20 19:40 UTC');
});

test.each([
  [{ state: 'absent', checkedAt } as const, /^Not in XNAT at all: .* has no session labelled SPN01_CMH_0001_01_01/],
  [
    { state: 'prearchive', since: '2026-11-20T16:05:00.000Z', checkedAt } as const,
    /^Stuck in XNAT's prearchive since 2026-11-20 16:05 UTC/,
  ],
  [
    { state: 'archived', since: '2026-11-20T19:40:00.000Z', scans: 1, checkedAt } as const,
    /^Archived in XNAT since 2026-11-20 19:40 UTC with 1 scan \(XNAT project SPN01_CMH/,
  ],
  [
    {
      state: 'unreachable',
      checkedAt,
      reason: 'XNAT login failed at https://xnat.example.org/: the password has probably expired',
    } as const,
    /^XNAT could not be reached: .*: XNAT login failed .* expired\.$/,
  ],
])('%j', (state, first) => {
  const lines = xnatCaseLines(facts.sessionId, at(state), { downloaded: false });
  expect(lines[0]).toMatch(first);
  expect(lines[0]).toContain('(XNAT checked 2026-11-22 12:00 UTC)');
});

test('archived without a scan count says why it could not be read', () => {
  const [line] = xnatCaseLines(
    facts.sessionId,
    at({ state: 'archived', checkedAt, reason: 'its scans could not be read: 503' }),
    {
      downloaded: false,
    },
  );
  expect(line).toContain('Archived in XNAT (its scans could not be read: 503)');
});

test('the no-scans email carries the case and the XNAT line; without XNAT it reads as before', () => {
  const { text } = noScansEmail({ ...facts, xnat: at({ state: 'absent', checkedAt }) }, 2 * 86_400_000);
  expect(text).toContain('Not in XNAT at all');
  expect(text).toContain(
    'XNAT:    not there (neither archived nor in the prearchive) (project SPN01_CMH at https://xnat.example.org/)',
  );
  expect(noScansEmail(facts, 1_000).text).toContain('Please check that the data was sent from the scanner.');
  expect(noScansEmail(facts, 1_000).text).not.toContain('XNAT');
});

test('download gave up before any job: never submitted, XNAT never archived it', () => {
  const { text } = downloadGaveUpEmail(
    { ...facts, xnat: at({ state: 'prearchive', checkedAt }) },
    { windowMs: 2 * 86_400_000, endTime: '2026-11-24T12:00:00.000Z', attempts: 0 },
  );
  expect(text).toContain(
    'was never submitted: over 2 days (until 2026-11-24T12:00:00.000Z) XNAT did not have the session archived',
  );
});

test('no REDCap record: subject, wait, where it was found', () => {
  const mail = noRedcapRecordEmail(
    { ...facts, xnat: at({ state: 'archived', since: '2026-11-20T19:40:00.000Z', scans: 7, checkedAt }) },
    { waitedMs: 2 * 86_400_000, foundAt: '2026-11-20T20:00:00.000Z' },
  );
  expect(mail.subject).toBe('[SPN01] No REDCap record for SPN01_CMH_0001_01_01');
  expect(mail.text).toContain(
    'XNAT has SPN01_CMH_0001_01_01 (found there 2026-11-20 20:00 UTC), but after waiting 2 days no REDCap record names it.',
  );
  expect(mail.text).toContain('XNAT:    archived since 2026-11-20 19:40 UTC with 7 scans (project SPN01_CMH');
  expect(mail.text).toContain('REDCap record: none linked');
});
