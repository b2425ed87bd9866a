/**
 * The worker stopped in the middle of jobs and emails, the way deploys and crashes stop it:
 * - SIGTERM while download and post-download jobs run (SUBMIT_COMMAND=bash, SHUTDOWN_GRACE=10s): a job that
 *   ends within the grace finishes; one that does not is stopped and submitted again by the next worker; never
 *   two jobs of a session at once; each post-download job runs to its end once, and a stopped one is not held
 *   against it.
 * - SIGKILL while the SMTP server holds the emails: each email arrives once the claim's lease has run out
 *   (EMAIL_LEASE=10s), with a duplicate only where the server had taken the message before the worker died,
 *   and every monitor that says `email-sent` sent it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { JobRun } from '../../src/db/job-run';
import { SentEmail } from '../../src/db/sent-email';
import { FaultLab } from './fault-lab';

jest.setTimeout(300_000);

/**
 * download.sh: logs `start`, flags an overlap if another job of the session is still alive, works for
 * `seconds-<session>` seconds (default 0), registers a scan through the API when `register-<session>` exists, logs
 * `end`. post_download.sh: the same without the scan, under `post-…` names.
 */
function job(name: 'download' | 'post'): string {
  return `#!/usr/bin/env bash
dir="$(cd "$(dirname "$0")" && pwd)"; s="$2"
pidfile="$dir/${name}-running-$s"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "overlap ${name} $s" >> "$dir/events"; fi
echo $$ > "$pidfile"
echo "${name}-start $s" >> "$dir/events"
sleep "$(cat "$dir/${name}-seconds-$s" 2>/dev/null || echo 0)"
if [ "${name}" = download ] && [ -f "$dir/register-$s" ]; then
  curl -fsS -o /dev/null -X POST "$SCAN_MONITOR_URL/sessions/$s/scans" -H "Authorization: Bearer $SCAN_MONITOR_TOKEN" \\
    -H 'Content-Type: application/json' --data "{\\"name\\":\\"\${s}_T1\\",\\"series\\":1,\\"tag\\":\\"T1\\"}"
fi
echo "${name}-end $s" >> "$dir/events"
`;
}

let lab: FaultLab;

beforeAll(async () => {
  lab = await FaultLab.start({
    scanCheckDelay: '5s',
    jobScripts: { 'download.sh': job('download'), 'post_download.sh': job('post') },
    env: {
      SHUTDOWN_GRACE: '10s',
      EMAIL_LEASE: '10s',
      DOWNLOAD_WINDOW: '30 minutes',
      DOWNLOAD_RETRY_INITIAL: '2s',
      DOWNLOAD_RETRY_MAX: '4s',
    },
  });
  await lab.startApi();
  await lab.startWorker();
});

afterAll(async () => {
  await lab?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const set = (name: string, text = '') => fs.writeFileSync(path.join(lab.jobsDir, name), text);
const events = (): string[] => {
  const file = path.join(lab.jobsDir, 'events');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : [];
};
const count = (line: string) => events().filter((e) => e === line).length;
const result = (workflowId: string): Promise<{ outcome: string }> => lab.client.workflow.getHandle(workflowId).result();

test('SIGTERM during download and post-download jobs: finished within the grace, or stopped and submitted again; never two at once; post-download once', async () => {
  const [quick, slow, post] = [301, 302, 303].map((n) => FaultLab.sessionId(n));
  for (const s of [quick, slow, post]) set(`register-${s}`);
  set(`download-seconds-${quick}`, '4'); // ends within the 10 s grace
  set(`download-seconds-${slow}`, '120'); // does not: stopped at the end of the grace
  set(`post-seconds-${post}`, '120'); // its post-download job does not either
  for (const n of [301, 302, 303]) expect((await lab.logScan(n)).status).toBe(202);
  await lab.waitFor(
    () =>
      events().includes(`download-start ${quick}`) &&
      events().includes(`download-start ${slow}`) &&
      events().includes(`post-start ${post}`),
    'the three jobs to run',
  );

  const stopping = Date.now();
  await lab.stopWorker();
  const stopSeconds = (Date.now() - stopping) / 1000;
  expect(count(`download-end ${quick}`)).toBe(1); // finished within the grace
  expect(count(`download-end ${slow}`)).toBe(0); // stopped
  expect(count(`post-end ${post}`)).toBe(0); // stopped

  set(`download-seconds-${slow}`, '1');
  set(`post-seconds-${post}`, '1');
  await lab.startWorker();
  const outcomes = await Promise.all([quick, slow, post].map((s) => result(`scan-download:${s}`)));
  const rows = await lab.orm.em
    .fork()
    .find(JobRun, { sessionId: { $in: [quick, slow, post] } }, { orderBy: { id: 'asc' } });
  const ledger = (s: string, kind: string) =>
    rows.filter((r) => r.sessionId === s && r.kind === kind).map((r) => r.status);
  const counts = {
    workerStopSeconds: stopSeconds,
    downloadJobsStarted: [quick, slow, post].map((s) => count(`download-start ${s}`)),
    postDownloadJobsStarted: [quick, slow, post].map((s) => count(`post-start ${s}`)),
    postDownloadJobsEnded: [quick, slow, post].map((s) => count(`post-end ${s}`)),
    overlaps: events().filter((e) => e.startsWith('overlap')).length,
    outcomes: outcomes.map((o) => o.outcome),
    ledger: {
      quick: ledger(quick, 'download'),
      slow: ledger(slow, 'download'),
      postDownload: ledger(post, 'post-download'),
    },
  };
  console.log(`fault: worker SIGTERM during jobs (SHUTDOWN_GRACE 10s): ${JSON.stringify(counts)}`);
  expect(counts).toMatchObject({
    downloadJobsStarted: [1, 2, 1],
    postDownloadJobsStarted: [1, 1, 2],
    postDownloadJobsEnded: [1, 1, 1],
    overlaps: 0,
    outcomes: ['downloaded', 'downloaded', 'downloaded'],
    ledger: { quick: ['succeeded'], slow: ['interrupted', 'succeeded'], postDownload: ['interrupted', 'succeeded'] },
  });
  expect(stopSeconds).toBeLessThan(10 + 30); // the grace, then the stopped jobs' exit; never the force time
});

test('SIGKILL while the SMTP server holds the emails: each arrives after the lease, at most one duplicate, and email-sent is true', async () => {
  const sessions = [401, 402, 403, 404].map((n) => FaultLab.sessionId(n, 'ZHH'));
  const taken = new Set([sessions[0], sessions[2]]); // the server keeps these even though the worker dies before its reply
  lab.smtpServer().hold((mail) => [...taken].some((s) => mail.subject.includes(s)));
  for (const n of [401, 402, 403, 404]) expect((await lab.logScan(n, { site: 'ZHH' })).status).toBe(202);
  await lab.waitFor(() => lab.smtpServer().held() === 4, 'the four emails to be held mid-send');
  const claimed = await lab.orm.em.fork().count(SentEmail, { sessionId: { $in: sessions }, status: 'sending' });

  await lab.killWorker();
  await lab.waitFor(() => lab.smtpServer().held() === 0, "the dead worker's SMTP connections to close");
  lab.smtpServer().release();
  await lab.startWorker();
  const outcomes = await Promise.all(sessions.map((s) => result(`scan-import:${s}`)));
  await sleep(3_000); // a further email would come now, if at all
  const perSession = sessions.map((s) => lab.mail().filter((m) => m.subject.includes(s)).length);
  const ledger = await lab.orm.em
    .fork()
    .find(SentEmail, { sessionId: { $in: sessions } }, { orderBy: { sessionId: 'asc' } });
  const counts = {
    claimedWhenKilled: claimed,
    emailsPerSession: perSession,
    duplicates: perSession.reduce((sum, n) => sum + Math.max(0, n - 1), 0),
    outcomes: outcomes.map((o) => o.outcome),
    ledger: ledger.map((row) => `${row.status}/${row.attempts}`),
  };
  console.log(`fault: worker SIGKILL during email send (EMAIL_LEASE 10s): ${JSON.stringify(counts)}`);
  expect(counts).toEqual({
    claimedWhenKilled: 4,
    emailsPerSession: sessions.map((s) => (taken.has(s) ? 2 : 1)),
    duplicates: 2,
    outcomes: ['email-sent', 'email-sent', 'email-sent', 'email-sent'],
    ledger: ['sent/2', 'sent/2', 'sent/2', 'sent/2'],
  });
});
