import { jobEnvironment, secretScrubber } from '../../src/jobs/submit';
import { checkScanToken, createScanToken } from '../../src/jobs/scan-token';

const worker = {
  PATH: '/usr/bin',
  HOME: '/home/lab',
  SLURM_CONF: '/etc/slurm.conf',
  SSH_AUTH_SOCK: '/tmp/ssh-agent.sock',
  SCAN_MONITOR_URL: 'http://api:3000',
  API_TOKEN: 'api-token-of-the-lab',
  DATABASE_URL: 'postgresql://u:p%40ss-word@db/x',
  SMTP_URL: 'smtp://u:mail-password@mail',
  DET_SECRET: 'det-secret',
  REDCAP_TOKEN_SPN01: 't1t1t1t1',
  XNAT_PASSWORD: 'xnat-pw',
  TEMPORAL_CODEC_KEY: 'codec-key',
  OTHER_DB: 'mysql://reader:reader-pw@host/db',
};

test("a job gets the worker's environment without anything holding a credential (API_TOKEN included)", () => {
  expect(jobEnvironment(worker)).toEqual({
    PATH: '/usr/bin',
    HOME: '/home/lab',
    SLURM_CONF: '/etc/slurm.conf',
    SSH_AUTH_SOCK: '/tmp/ssh-agent.sock',
    SCAN_MONITOR_URL: 'http://api:3000',
  });
});

test('what a job prints loses the secrets, their URL passwords, scan tokens and bearer headers', () => {
  const scrub = secretScrubber(worker);
  const token = createScanToken('api-token-of-the-lab', 'SPN01_CMH_0001_01_01', new Date(Date.now() + 60_000));
  const printed = [
    'connecting to postgresql://u:p%40ss-word@db/x with p@ss-word',
    'mail via smtp://u:mail-password@mail, XNAT xnat-pw, REDCap t1t1t1t1, reader-pw',
    `token ${token}`,
    '> Authorization: Bearer some-other-token',
    'fetched 3 series of SPN01_CMH_0001_01_01',
  ].join('\n');
  expect(scrub(printed)).toBe(
    [
      'connecting to [redacted] with [redacted]',
      'mail via [redacted], XNAT [redacted], REDCap [redacted], [redacted]',
      'token [redacted]',
      '> Authorization: Bearer [redacted]',
      'fetched 3 series of SPN01_CMH_0001_01_01',
    ].join('\n'),
  );
});

test('a scan token registers scans of its own session only, until it expires, and cannot be forged', () => {
  const key = 'api-token-of-the-lab';
  const token = createScanToken(key, 'SPN01_CMH_0001_01_01', new Date(Date.now() + 60_000));
  expect(checkScanToken(key, token, 'SPN01_CMH_0001_01_01')).toEqual({ valid: true });
  expect(checkScanToken(key, token, 'SPN01_CMH_0002_01_01')).toEqual({
    valid: false,
    reason: 'other-session',
    sessionId: 'SPN01_CMH_0001_01_01',
  });
  expect(checkScanToken(key, token, 'SPN01_CMH_0001_01_01', new Date(Date.now() + 120_000))).toMatchObject({
    valid: false,
    reason: 'expired',
  });
  expect(checkScanToken('another-api-token', token, 'SPN01_CMH_0001_01_01')).toEqual({
    valid: false,
    reason: 'forged',
  });
  const [prefix, , expiry, signature] = token.split('.');
  const otherSession = Buffer.from('SPN01_CMH_0002_01_01').toString('base64url');
  expect(checkScanToken(key, [prefix, otherSession, expiry, signature].join('.'), 'SPN01_CMH_0002_01_01')).toEqual({
    valid: false,
    reason: 'forged',
  });
  expect(checkScanToken(key, 'scan1.x.y.z', 'SPN01_CMH_0001_01_01')).toEqual({ valid: false, reason: 'forged' });
});
