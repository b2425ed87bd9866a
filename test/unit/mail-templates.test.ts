/** The admins' messages: subjects name the study and session; bodies say how long and link the record. */
import { describeDuration, downloadGaveUpEmail, noScansEmail, type SessionFacts } from '../../src/mail/templates';
import { redcapRecordUrl } from '../../src/redcap/urls';

const facts: SessionFacts = {
  sessionId: 'SPN01_CMH_0001_01_01',
  studyId: 'SPN01',
  studyName: 'Social Processes Network',
  siteId: 'CMH',
  date: '2026-11-20',
  redcap: {
    recordId: 7,
    record: '17',
    url: 'https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234&id=17&page=mri_scan_log',
  },
};

test('no scans: subject, wait and the record', () => {
  const mail = noScansEmail(facts, 2 * 86_400_000);
  expect(mail.subject).toBe('[SPN01] No scan data received for SPN01_CMH_0001_01_01');
  expect(mail.text).toContain('after waiting 2 days no scan data has arrived');
  expect(mail.text).toContain(
    'REDCap record 17: https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234&id=17&page=mri_scan_log',
  );
  expect(mail.text).toContain('GET /redcap_redirect/7');
  expect(mail.text).toContain('Scanned: 2026-11-20');
  expect(mail.text).toContain('SessionId="SPN01_CMH_0001_01_01"');
});

test('no record linked is said plainly', () => {
  const { text } = noScansEmail({ ...facts, redcap: null, date: null }, 1_000);
  expect(text).toContain('REDCap record: none linked');
  expect(text).toContain('Scanned: date not recorded');
});

test('download gave up: attempts and window', () => {
  const mail = downloadGaveUpEmail(facts, {
    windowMs: 48 * 3_600_000,
    endTime: '2026-11-27T10:00:00.000Z',
    attempts: 10,
  });
  expect(mail.subject).toBe('[SPN01] Scan download gave up for SPN01_CMH_0001_01_01');
  expect(mail.text).toContain('submitted 10 times over 2 days (until 2026-11-27T10:00:00.000Z)');
  expect(downloadGaveUpEmail(facts, { windowMs: 3_600_000, endTime: 'x', attempts: 1 }).text).toContain(
    'submitted 1 time over 1 hour',
  );
});

test.each([
  [172_800_000, '2 days'],
  [129_600_000, '36 hours'],
  [3_600_000, '1 hour'],
  [90_000, '90 seconds'],
  [1_500, '1.5 seconds'],
  [250, '250 ms'],
])('%i ms reads "%s"', (millis, text) => {
  expect(describeDuration(millis)).toBe(text);
});

test('REDCap record URL, with and without an event', () => {
  const config = { url: 'https://redcap.example.org', version: '14.5.2', project: 2001, instrument: 'scan_visit' };
  expect(redcapRecordUrl({ config, record: 'A 1' })).toBe(
    'https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=2001&id=A+1&page=scan_visit',
  );
  expect(redcapRecordUrl({ config, record: '3', eventId: 41 })).toBe(
    'https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=2001&id=3&event_id=41&page=scan_visit',
  );
});
