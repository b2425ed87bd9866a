import { jobEnvironment } from '../../src/jobs/submit';

test("a job gets the worker's environment without the service's secrets, but with API_TOKEN to register scans", () => {
  const env = jobEnvironment({
    PATH: '/usr/bin',
    HOME: '/home/lab',
    SLURM_CONF: '/etc/slurm.conf',
    SCAN_MONITOR_URL: 'http://api:3000',
    API_TOKEN: 'api',
    DATABASE_URL: 'postgresql://u:p@db/x',
    SMTP_URL: 'smtp://u:p@mail',
    DET_SECRET: 's',
    REDCAP_TOKEN_SPN01: 't1',
    REDCAP_TOKEN_SPN01_LONG: 't2',
  });
  expect(env).toEqual({
    PATH: '/usr/bin',
    HOME: '/home/lab',
    SLURM_CONF: '/etc/slurm.conf',
    SCAN_MONITOR_URL: 'http://api:3000',
    API_TOKEN: 'api',
  });
});
