import { parseLabConfig } from '../../src/lab-config';
import { parseDataEntryTrigger } from '../../src/redcap/det';
import { normalizeRedcapUrl } from '../../src/redcap/urls';
import { detFixtureFields } from '../support/fake-redcap';

const stored = (url: string) =>
  parseLabConfig(
    `redcap:\n  - url: "${url}"\n    project: 1234\n    instrument: mri_scan_log\n    version: 14.5.2\n    token: t\n` +
      `    fields: { session: s, date: d, comment: c, completed: mri_scan_log_complete, completedValue: "2" }\n`,
    { env: {} },
  ).config.redcap[0].url;
const sent = (url: string) => parseDataEntryTrigger({ ...detFixtureFields('det-classic-complete.form'), redcap_url: url }).redcapUrl;

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
