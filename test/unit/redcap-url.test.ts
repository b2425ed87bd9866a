import { parseLabConfig } from '../../src/lab-config';
import { parseDataEntryTrigger } from '../../src/redcap/det';
import { normalizeRedcapUrl, redcapRecordUrl } from '../../src/redcap/urls';
import { detFixtureFields } from '../support/fake-redcap';

const stored = (url: string) =>
  parseLabConfig(
    `redcap:\n  - url: "${url}"\n    project: 1234\n    instrument: mri_scan_log\n    version: 14.5.2\n    token: t\n` +
      `    fields: { session: s, date: d, comment: c, completed: mri_scan_log_complete, completedValue: "2" }\n`,
    { env: {} },
  ).config.redcap[0].url;
const sent = (url: string) =>
  parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), redcap_url: url }).redcapUrl;

test.each([
  ['https://REDCap.Example.org/', 'https://redcap.example.org/'],
  ['https://redcap.example.org:443/', 'https://redcap.example.org'],
  ['https://redcap.example.org/redcap/', 'https://redcap.example.org/redcap//'],
  ['https://redcap.example.org/my redcap/', 'https://redcap.example.org/my%20redcap/'],
])('a config stored as %s matches a trigger from %s', (configUrl, triggerUrl) => {
  expect(sent(triggerUrl)).toBe(stored(configUrl));
});

test('text that is no URL is only trimmed and given its slash', () => {
  expect(normalizeRedcapUrl(' not a url ')).toBe('not a url/');
});

test("REDCap's version is read from a trigger's project_url", () => {
  const version = (projectUrl: string) =>
    parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), project_url: projectUrl }).redcapVersion;
  expect(version('https://redcap.example.org/redcap_v14.6.4/index.php?pid=1234')).toBe('14.6.4');
  expect(version('https://redcap.example.org/redcap/redcap_v15.0.1/index.php?pid=1234')).toBe('15.0.1');
  expect(version('https://redcap.example.org/index.php?pid=1234')).toBeUndefined();
  // Only digits and dots can reach a link.
  expect(version('https://redcap.example.org/redcap_v14.6.4x/index.php')).toBeUndefined();
  expect(version('https://redcap.example.org/redcap_v../../evil/index.php')).toBeUndefined();
});

test('the record link uses the version of the latest trigger when there is one, and opens a repeat instance', () => {
  const config = { url: 'https://redcap.example.org/', version: '14.5.2', project: 1234, instrument: 'mri_scan_log' };
  expect(redcapRecordUrl({ config: { ...config, detVersion: '14.6.4' }, record: '331-2', instance: 2 })).toBe(
    'https://redcap.example.org/redcap_v14.6.4/DataEntry/index.php?pid=1234&id=331-2&page=mri_scan_log&instance=2',
  );
  expect(redcapRecordUrl({ config: { ...config, detVersion: null }, record: 'Zoë 7', eventId: 41, instance: 0 })).toBe(
    'https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234&id=Zo%C3%AB+7&event_id=41&page=mri_scan_log',
  );
});
