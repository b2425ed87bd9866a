/**
 * A download job gets only what it needs (docs/jobs.md): not API_TOKEN nor the worker's other secrets, but a scan
 * token that registers scans of its own session only, and expires. What it prints is scrubbed of secrets before it
 * reaches the attempt's failure (the Web UI's pending activity, GET /sessions/:id), the job ledger and the log.
 * On the service as ops run it: `npm run api` and `npm run worker`, a real job run by bash.
 */
import fs from 'node:fs';
import path from 'node:path';
import { JobRun } from '../../src/db/job-run';
import { createScanToken } from '../../src/jobs/scan-token';
import { FaultLab } from './fault-lab';

jest.setTimeout(300_000);

const DET_SECRET = 'det-secret-of-the-lab-0123456789';
const OTHER = FaultLab.sessionId(999);
let lab: FaultLab;

/**
 * download.sh: writes its environment to env-<session>; tries to register a scan of another session (the answer's
 * status to other-<session>); then, until fix-<session> exists, prints its token (as `curl -v` shows a header) and
 * the worker's secrets pasted into it, and fails; once it exists, registers its own scan with its token.
 */
function downloadJob(secrets: string[]): string {
  const scan = (s: string) =>
    `-H 'Content-Type: application/json' --data '{"name":"'"${s}"'_T1","series":1,"tag":"T1"}'`;
  return `#!/usr/bin/env bash
dir="$(cd "$(dirname "$0")" && pwd)"; s="$2"
env > "$dir/env-$s"
curl -s -o /dev/null -w '%{http_code}' -X POST "$SCAN_MONITOR_URL/sessions/${OTHER}/scans" \\
  -H "Authorization: Bearer $SCAN_MONITOR_TOKEN" ${scan(OTHER)} > "$dir/other-$s"
if [ ! -f "$dir/fix-$s" ]; then
  echo "> Authorization: Bearer $SCAN_MONITOR_TOKEN" >&2
  echo "token=$SCAN_MONITOR_TOKEN" >&2
  echo "pasted secrets: ${secrets.join(' ')}" >&2
  exit 3
fi
curl -fsS -o /dev/null -X POST "$SCAN_MONITOR_URL/sessions/$s/scans" -H "Authorization: Bearer $SCAN_MONITOR_TOKEN" ${scan('$s')}
`;
}

beforeAll(async () => {
  lab = await FaultLab.start({
    scanCheckDelay: '1 hour',
    // Written below, once the lab's secrets are known.
    jobScripts: { 'download.sh': '', 'post_download.sh': '#!/usr/bin/env bash\n' },
    env: { DET_SECRET, DOWNLOAD_RETRY_INITIAL: '2s', DOWNLOAD_RETRY_MAX: '2s', DOWNLOAD_WINDOW: '30 minutes' },
  });
  const { API_TOKEN, DATABASE_URL, SMTP_URL } = lab.env;
  const dbPassword = decodeURIComponent(new URL(DATABASE_URL).password);
  fs.writeFileSync(
    path.join(lab.jobsDir, 'download.sh'),
    downloadJob([API_TOKEN, DATABASE_URL, dbPassword, SMTP_URL, DET_SECRET]),
    { mode: 0o755 },
  );
  await lab.startApi();
  await lab.startWorker();
});

afterAll(async () => {
  await lab?.close();
});

test('a job has no admin token or worker secret, its scan token works for its session only, and what it prints is scrubbed', async () => {
  const sessionId = FaultLab.sessionId(1);
  const read = (name: string) => fs.readFileSync(path.join(lab.jobsDir, `${name}-${sessionId}`), 'utf8');
  const { API_TOKEN, DATABASE_URL } = lab.env;
  const secrets = [API_TOKEN, DATABASE_URL, decodeURIComponent(new URL(DATABASE_URL).password), DET_SECRET];
  expect((await lab.logScan(1)).status).toBe(202);

  // The first attempt fails, printing its token and the secrets pasted into it.
  const view = async () =>
    (await (
      await fetch(`${lab.apiUrl}/sessions/${sessionId}`, { headers: { authorization: `Bearer ${API_TOKEN}` } })
    ).json()) as { monitors?: Array<{ monitor: string; currentAttempt?: { lastFailure?: string } }> };
  let failure = '';
  await lab.waitFor(async () => {
    const download = (await view()).monitors?.find((m) => m.monitor === 'scan-download');
    failure = download?.currentAttempt?.lastFailure ?? '';
    return failure.includes('exit 3');
  }, 'the first download attempt to fail');

  const env = Object.fromEntries(
    read('env')
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  for (const name of ['API_TOKEN', 'DATABASE_URL', 'SMTP_URL', 'DET_SECRET']) expect(env[name]).toBeUndefined();
  expect(env.SCAN_MONITOR_TOKEN).toMatch(/^scan1\./);
  const token = env.SCAN_MONITOR_TOKEN;
  expect(read('other')).toBe('403'); // another session's scans: refused

  // Nothing kept of what it printed has a secret: the failure (Web UI, GET /sessions), the ledger, the log.
  const [row] = await lab.orm.em.fork().find(JobRun, { sessionId }, { orderBy: { id: 'asc' } });
  const history = JSON.stringify(
    await lab.client.workflow
      .getHandle(`scan-download:${sessionId}`)
      .describe()
      .then((d) => d.raw.pendingActivities),
  );
  // The failure and the pending activity name the job run; what the job printed (stderr) is kept in the ledger only.
  const ledger = row.detail ?? '';
  const log = lab.worker!.output();
  for (const [where, text] of Object.entries({ failure, history, log }))
    expect({ where, output: text.includes('pasted secrets') }).toEqual({ where, output: false });
  expect(ledger).toContain('pasted secrets');
  expect(ledger).toContain('[redacted]');
  for (const [where, text] of Object.entries({ failure, history, ledger, log })) {
    for (const secret of [...secrets, token])
      expect({ where, leaks: text.includes(secret) }).toEqual({ where, leaks: false });
  }

  // The next attempt registers its scan with its token: the download is done.
  fs.writeFileSync(path.join(lab.jobsDir, `fix-${sessionId}`), '');
  const result = await lab.client.workflow.getHandle(`scan-download:${sessionId}`).result();
  expect(result).toMatchObject({ outcome: 'downloaded' });

  // The token is no admin token, and an expired one is refused.
  const get = await fetch(`${lab.apiUrl}/sessions/${sessionId}`, { headers: { authorization: `Bearer ${token}` } });
  expect(get.status).toBe(401);
  const expired = createScanToken(API_TOKEN, sessionId, new Date(Date.now() - 1_000));
  const late = await fetch(`${lab.apiUrl}/sessions/${sessionId}/scans`, {
    method: 'POST',
    headers: { authorization: `Bearer ${expired}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `${sessionId}_T2`, series: 2, tag: 'T2' }),
  });
  expect({ status: late.status, body: await late.json() }).toEqual({
    status: 401,
    body: { error: expect.stringMatching(/scan token expired/) },
  });
});
