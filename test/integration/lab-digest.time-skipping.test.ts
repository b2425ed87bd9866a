/**
 * LabDigestWorkflow on Temporal's time-skipping test server, with the real activities, a real database and a real
 * SMTP server: nothing outstanding sends nothing; the day's digest goes to the study's admins and digest users (each
 * only for the studies they see), says what is new and what is still open with its age, the day's missed triggers
 * and the emails the hourly limit held, each line linked; a second run that day sends nothing; the next day sends the
 * next one.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createMailActivities } from '../../activities/mail';
import { Study, StudySite, User } from '../../src/db/entities';
import { dayIn } from '../../src/lab-data/digest';
import { triggersMissed } from '../../src/lab-data/problems';
import { refreshSessionStates } from '../../src/lab-data/state';
import { findOrCreateSession } from '../../src/sessions/domain';
import { LAB_DIGEST_WORKFLOW, type LabDigestInput, type LabDigestResult } from '../../surface';
import { addScan, seedSession } from '../support/lab';
import { timeSkippingMonitors, type MonitorHarness } from '../support/monitors';

const DAY = 86_400_000;
const ZONE = 'America/Toronto';
let env: TestWorkflowEnvironment;
let lab: MonitorHarness;
let configId: number;
let runs = 0;
const em = () => lab.orm.em.fork() as EntityManager;
const sql = (query: string, params: unknown[] = []) => lab.orm.em.fork().getConnection().execute(query, params);

timeSkippingMonitors((suite) => ({ env, lab } = suite), {
  env: { TZ: ZONE, PUBLIC_URL: 'https://lab.example.org/scans/' },
});

beforeAll(async () => {
  const seed = em();
  const other = seed.create(Study, { id: 'SPX02', name: 'Second study' });
  seed.create(StudySite, { study: other, site: 'CMH', code: 'SPX02', usesRedcap: true });
  seed.create(User, { name: 'Dee Digest', email: 'dee@example.org', digest: true });
  seed.create(User, { name: 'Sam Second', email: 'sam@example.org', digest: true, studies: [other] });
  seed.create(User, { name: 'Pat Admin', email: 'pat@example.org', admin: true, studies: [other] });
  await seed.flush();
  [{ id: configId }] = await sql(`select id from redcap_config`);
});

/** When the last run started: its own clock names the day (the test server skips time while its activity runs). */
let lastStart: Date;

async function digest(studyId: string, at?: string, client: Client = env.client): Promise<LabDigestResult> {
  runs += 1;
  const input: LabDigestInput = { studyId, ...(at ? { at } : {}) };
  const handle = await client.workflow.start(LAB_DIGEST_WORKFLOW, {
    taskQueue: lab.config.taskQueue,
    workflowId: `lab-digest:${studyId}-test-${runs}`,
    args: [input],
  });
  const result = await handle.result();
  ({ startTime: lastStart } = await handle.describe());
  return result;
}

const digests = () => lab.smtp.messages.filter((mail) => mail.subject.includes('Daily scan report'));

test('nothing outstanding: no email', async () => {
  const result = await digest('SPN01');
  expect(result).toMatchObject({ sent: false, lines: 0, reason: 'nothing outstanding' });
  expect(result.day).toBe(dayIn(lastStart, ZONE));
  expect(digests()).toHaveLength(0);
});

test('the day’s digest: to whom, what, linked; once a day; the next day the next one, with ages', async () => {
  // Missing scans: logged in REDCap, the no-scans email sent.
  const missing = 'SPN01_CMH_0101_01_01';
  await seedSession(lab.orm, missing);
  await sql(
    `insert into sent_email (key, kind, session_id, subject, recipients, status, attempts, created_at, sent_at)
     values ('scan-import:${missing}:run:no-scans', 'no-scans', ?, 's', 'ada@example.org', 'sent', 1, now(), now())`,
    [missing],
  );
  // Scans but no REDCap record (found in XNAT, say).
  const unlogged = 'SPN01_ZHH_0102_01_01';
  await findOrCreateSession(em(), unlogged, '2026-11-22');
  await addScan(lab.orm, unlogged);
  await refreshSessionStates(em(), [missing, unlogged]); // the digest repairs them too; the list does not wait for it
  // Three failed intakes of the config in an hour: one emailed, two held; each a problem.
  const { emailAdmins } = createMailActivities(lab.deps);
  for (const record of ['31', '32', '33'])
    await emailAdmins({
      key: `redcap-intake:${configId}:${record}:run:intake-failed`,
      intakeFailure: {
        configId,
        record,
        message: `REDCap record ${record} (config ${configId}): "bad" is not a session id`,
        type: 'InvalidSessionIdError',
        workflowId: `redcap-intake:${configId}:${record}`,
        runId: 'run',
      },
    });
  await triggersMissed(em(), 'redcap-reconcile:1-run:r1', { configId, count: 3, sample: ['40', '41', '42'] });
  lab.smtp.messages.length = 0;

  // The run's own clock names the day. (Time skips while an activity runs: the later runs of that day say which.)
  const first = await digest('SPN01');
  const start = lastStart.toISOString();
  const day = dayIn(lastStart, ZONE);
  expect(first).toEqual({ sent: true, day, lines: 8 });
  expect(digests()).toHaveLength(1);
  const [mail] = digests();
  expect(mail.to).toEqual(['ada@example.org', 'dee@example.org']);
  expect(mail.subject).toBe(
    '[SPN01] Daily scan report: 1 missing scan, 1 without REDCap, 3 problems, 3 missed triggers',
  );
  expect(mail.text).toContain(`Daily scan report for SPN01 (Social Processes Network), ${day}.`);
  expect(mail.text).toContain('5 new since yesterday.');
  expect(mail.text).toContain(`  - ${missing} (CMH, scanned 2026-11-20): no scan data; the admins were emailed today`);
  expect(mail.text).toContain(`    https://lab.example.org/scans/lab/sessions/${missing}`);
  expect(mail.text).toContain(`  - ${unlogged} (ZHH, scanned 2026-11-22): scans but no REDCap record, since today`);
  expect(mail.text).toContain(
    `  - REDCap record 32, since today: REDCap record 32 (config ${configId}): "bad" is not a session id`,
  );
  expect(mail.text).toContain(
    'https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234&id=32&page=mri_scan_log',
  );
  expect(mail.text).toContain('  - REDCap project 1234 (mri_scan_log): 3 records: 40, 41, 42');
  expect(mail.text).toContain(
    'https://redcap.example.org/redcap_v14.5.2/DataEntry/record_status_dashboard.php?pid=1234',
  );
  expect(mail.text).toContain('Emails held back by the limit of one an hour per REDCap project: 2 intake-failed.');
  expect(mail.text).not.toContain('Still open');

  // Again that day (a second run, as after a crash): the same digest counts as sent; no second email.
  expect(await digest('SPN01', start)).toEqual({ sent: true, day, lines: 8 });
  expect(digests()).toHaveLength(1);
  // Two at once that day: one email. Awaited in real time (a plain client leaves time skipping locked): the run that
  // finds the other's claim retries 10 s later, as in a lab, instead of skipping through its 6 hours of retries
  // while the other is still sending.
  const realTime = new Client({ connection: env.connection, namespace: env.namespace });
  await Promise.all([digest('SPN01', start, realTime), digest('SPN01', start, realTime)]);
  expect(digests()).toHaveLength(1);

  // The other study: only its own readers; nothing outstanding there, so nothing.
  expect(await digest('SPX02')).toMatchObject({ sent: false, reason: 'nothing outstanding' });

  // A day later: the next digest; what was new is still open, a day old; yesterday's finds are not told again.
  await env.sleep(DAY);
  const next = await digest('SPN01');
  expect(next).toMatchObject({ sent: true, lines: 5 });
  expect(next.day > day).toBe(true);
  expect(digests()).toHaveLength(2);
  const later = digests()[1];
  expect(later.subject).toBe('[SPN01] Daily scan report: 1 missing scan, 1 without REDCap, 3 problems');
  expect(later.text).toContain('0 new since yesterday.');
  expect(later.text).toContain('Still open:');
  expect(later.text).toMatch(/no scan data; the admins were emailed \d+ days? ago/);
  expect(later.text).not.toContain('Data Entry Trigger (found by reconciliation');
});

test('a study whose outstanding work nobody may read sends nothing, and says why', async () => {
  await sql(`update app_user_study set study_id = 'SPN01' where study_id = 'SPX02'`);
  const session = 'SPX02_CMH_0201_01_01';
  await findOrCreateSession(em(), session, '2026-11-23');
  await addScan(lab.orm, session);
  await sql(
    `insert into app_user_study (user_id, study_id) select id, 'SPN01' from app_user u
     where not exists (select 1 from app_user_study seen where seen.user_id = u.id)`,
  );
  const result = await digest('SPX02', new Date((await env.currentTimeMs()) + 2 * DAY).toISOString());
  expect(result).toMatchObject({ sent: false, lines: 1, reason: 'no recipients' });
});
