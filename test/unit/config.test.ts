import { ConfigError, loadConfig } from '../../src/config';
import { workerTuning } from '../../src/temporal/worker-tuning';

test('defaults follow the contract', () => {
  const config = loadConfig({});
  expect(config.port).toBe(3000);
  expect(config.temporalNamespace).toBe('default');
  expect(config.taskQueue).toBe('scan-monitors');
  expect(config.mailFrom).toBe('redcap-scan-monitor@localhost');
  expect(config.databaseUrl).toBeUndefined();
  expect(config.temporalAddress).toBeUndefined();
  expect(config.submit).toMatchObject({ command: 'bash', options: [] });
  expect(config.durations).toEqual({
    scanCheckDelayMs: 2 * 24 * 3600_000,
    downloadWindowMs: 2 * 24 * 3600_000,
    downloadRetryInitialMs: 3600_000,
    downloadRetryMaxMs: 6 * 3600_000,
  });
  expect(config.reconcile).toEqual({ intervalMs: 3600_000, lookbackMs: 7 * 24 * 3600_000 });
});

test('RECONCILE_INTERVAL takes a duration or off', () => {
  expect(loadConfig({ RECONCILE_INTERVAL: '15 minutes', RECONCILE_LOOKBACK: '2 days' }).reconcile).toEqual({
    intervalMs: 900_000,
    lookbackMs: 172_800_000,
  });
  expect(loadConfig({ RECONCILE_INTERVAL: 'off' }).reconcile.intervalMs).toBeNull();
  expect(loadConfig({ RECONCILE_INTERVAL: ' OFF ' }).reconcile.intervalMs).toBeNull();
});

test('the digest: DIGEST_AT (HH:MM or off) in TZ (UTC by default); PUBLIC_URL for its links', () => {
  expect(loadConfig({}).digest).toEqual({ at: { hour: 8, minute: 0 }, timeZone: 'UTC' });
  expect(loadConfig({ DIGEST_AT: '07:45', TZ: 'America/Toronto' }).digest).toEqual({
    at: { hour: 7, minute: 45 },
    timeZone: 'America/Toronto',
  });
  expect(loadConfig({ DIGEST_AT: 'off' }).digest.at).toBeNull();
  expect(loadConfig({}).lab.publicUrl).toBeUndefined();
  expect(loadConfig({ PUBLIC_URL: 'https://lab.example.org/scans/' }).lab.publicUrl).toBe(
    'https://lab.example.org/scans',
  );
  for (const [name, value, message] of [
    ['DIGEST_AT', '8:00', /DIGEST_AT: must be a time of day as HH:MM/],
    ['DIGEST_AT', '24:00', /DIGEST_AT/],
    ['TZ', 'Mars/Olympus', /TZ: must be an IANA time zone/],
    ['PUBLIC_URL', 'lab.example.org', /PUBLIC_URL: must be a URL/],
  ] as const)
    expect(() => loadConfig({ [name]: value })).toThrow(message);
});

test('durations accept the forms Temporal accepts', () => {
  const config = loadConfig({
    SCAN_CHECK_DELAY: '90s',
    DOWNLOAD_WINDOW: '1h',
    DOWNLOAD_RETRY_INITIAL: '2 minutes',
    DOWNLOAD_RETRY_MAX: '1 day',
  });
  expect(config.durations).toEqual({
    scanCheckDelayMs: 90_000,
    downloadWindowMs: 3600_000,
    downloadRetryInitialMs: 120_000,
    downloadRetryMaxMs: 86_400_000,
  });
});

test('shutdown grace, job slots and the email lease have defaults and take durations', () => {
  expect(loadConfig({})).toMatchObject({ shutdownGraceMs: 30_000, jobSlots: 10, emailLeaseMs: 120_000 });
  expect(loadConfig({ SHUTDOWN_GRACE: '5 minutes', JOB_SLOTS: '3', EMAIL_LEASE: '45s' })).toMatchObject({
    shutdownGraceMs: 300_000,
    jobSlots: 3,
    emailLeaseMs: 45_000,
  });
});

test('the state of a queued job is read with squeue for sbatch, with JOB_STATUS_COMMAND when set, and not at all for bash', () => {
  expect(loadConfig({}).submit.statusCommand).toBeUndefined();
  expect(loadConfig({ SUBMIT_COMMAND: 'sbatch' }).submit.statusCommand).toEqual(['squeue', '-h', '-o', '%T', '-j']);
  expect(loadConfig({ SUBMIT_COMMAND: '/opt/slurm/bin/sbatch' }).submit.statusCommand).toEqual([
    'squeue',
    '-h',
    '-o',
    '%T',
    '-j',
  ]);
  expect(
    loadConfig({ SUBMIT_COMMAND: 'sbatch', JOB_STATUS_COMMAND: 'sacct -n -X -o State -j' }).submit.statusCommand,
  ).toEqual(['sacct', '-n', '-X', '-o', 'State', '-j']);
});

test('SUBMIT_OPTIONS splits into arguments', () => {
  expect(loadConfig({ SUBMIT_OPTIONS: ' --partition=long  --mem=4G ' }).submit.options).toEqual([
    '--partition=long',
    '--mem=4G',
  ]);
});

test('the worker keeps 100 workflows cached by default; every tuning variable overrides the SDK', () => {
  expect(workerTuning(loadConfig({}))).toEqual({ maxCachedWorkflows: 100 });
  const env = {
    WORKER_CACHED_WORKFLOWS: '0',
    WORKER_WORKFLOW_TASK_SLOTS: '4',
    WORKER_ACTIVITY_SLOTS: '20',
    WORKER_REUSE_V8_CONTEXT: 'false',
  };
  expect(workerTuning(loadConfig(env))).toEqual({
    maxCachedWorkflows: 0,
    maxConcurrentWorkflowTaskExecutions: 4,
    maxConcurrentActivityTaskExecutions: 20,
    reuseV8Context: false,
  });
});

test.each([
  ['WORKER_CACHED_WORKFLOWS', '-1'],
  ['WORKER_WORKFLOW_TASK_SLOTS', '1'],
  ['WORKER_REUSE_V8_CONTEXT', 'yes'],
  ['SCAN_CHECK_DELAY', 'two days'],
  ['DOWNLOAD_WINDOW', '-5s'],
  ['PORT', 'eighty'],
  ['DATABASE_URL', 'mysql://x'],
  ['SMTP_URL', 'not a url'],
  ['RECONCILE_INTERVAL', 'never'],
  ['RECONCILE_LOOKBACK', 'off'],
  ['SHUTDOWN_GRACE', 'a while'],
  ['EMAIL_LEASE', '0s'],
  ['JOB_SLOTS', '0'],
])('a bad %s stops start-up with a message naming it', (name, value) => {
  expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
  expect(() => loadConfig({ [name]: value })).toThrow(name);
});

test('a retry maximum below the initial interval is refused', () => {
  expect(() => loadConfig({ DOWNLOAD_RETRY_INITIAL: '2h', DOWNLOAD_RETRY_MAX: '1h' })).toThrow(/DOWNLOAD_RETRY_MAX/);
});

describe('the lab pages: logins and links', () => {
  const oidc = {
    OIDC_ISSUER: 'https://login.example.org/realms/lab',
    OIDC_CLIENT_ID: 'scan-monitor',
    OIDC_CLIENT_SECRET: 's3cret',
    PUBLIC_URL: 'https://monitor.example.org/',
  };

  test('defaults: token logins, the embedded Web UI, twelve-hour logins', () => {
    expect(loadConfig({}).lab).toEqual({
      oidc: undefined,
      publicUrl: undefined,
      secureCookies: false,
      loginExpiryMs: 12 * 3600_000,
      temporalUiUrl: 'http://127.0.0.1:8233',
    });
    expect(loadConfig({ TEMPORAL_UI_PORT: '47003' }).lab.temporalUiUrl).toBe('http://127.0.0.1:47003');
    expect(loadConfig({ TEMPORAL_UI_URL: 'https://temporal.example.org/' }).lab.temporalUiUrl).toBe(
      'https://temporal.example.org',
    );
  });

  test('an OpenID Connect provider; Secure cookies behind https', () => {
    expect(loadConfig({ ...oidc, LAB_LOGIN_EXPIRY: '8 hours' }).lab).toMatchObject({
      oidc: { issuer: oidc.OIDC_ISSUER, clientId: 'scan-monitor', clientSecret: 's3cret' },
      publicUrl: 'https://monitor.example.org',
      secureCookies: true,
      loginExpiryMs: 8 * 3600_000,
    });
  });

  test('OIDC_ISSUER needs its client and PUBLIC_URL, and https off this machine', () => {
    expect(() => loadConfig({ OIDC_ISSUER: oidc.OIDC_ISSUER })).toThrow(
      'OIDC_ISSUER is set, so OIDC_CLIENT_ID and OIDC_CLIENT_SECRET and PUBLIC_URL must be set too',
    );
    expect(() => loadConfig({ ...oidc, OIDC_ISSUER: 'http://login.example.org/' })).toThrow(
      'OIDC_ISSUER must be an https URL (http only on 127.0.0.1)',
    );
    expect(loadConfig({ ...oidc, OIDC_ISSUER: 'http://127.0.0.1:47010' }).lab.oidc?.issuer).toBe(
      'http://127.0.0.1:47010',
    );
    expect(() => loadConfig({ PUBLIC_URL: 'monitor.example.org' })).toThrow(/PUBLIC_URL: must be a URL/);
    expect(() => loadConfig({ LAB_LOGIN_EXPIRY: 'forever' })).toThrow(/LAB_LOGIN_EXPIRY/);
  });
});
