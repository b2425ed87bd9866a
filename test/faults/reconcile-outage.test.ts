/**
 * The API and the worker are down while research assistants complete scan logs in REDCap (whose clock is 14 hours
 * ahead of ours): REDCap's triggers are lost. When the service comes back, the reconciliation schedule finds every
 * one of those records: each is filed exactly once, each session gets its one email, the record that names no
 * session one email, and the admins one email about the missed triggers.
 */
import { FaultLab } from './fault-lab';

jest.setTimeout(300_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Records 1–2 arrive by trigger; 3–7 are completed while the service is down; 8 too, naming no session. */
const BY_TRIGGER = 2;
const GOOD = 7;
const BAD = 8;
let lab: FaultLab;

beforeAll(async () => {
  lab = await FaultLab.start({ scanCheckDelay: '20s', reconcileInterval: '4s', redcapUtcOffsetMinutes: 14 * 60 });
  await lab.startApi();
  await lab.startWorker();
});

afterAll(async () => {
  await lab?.close();
});

const reconcileRuns = (status?: 'Completed' | 'Failed') => lab.workflows('RedcapReconcileWorkflow', status);

test('API and worker down while records are completed: every record filed exactly once, one email each where due', async () => {
  // The worker created the schedule when it started; a first run succeeds while all is well.
  await lab.waitFor(async () => (await reconcileRuns('Completed')) >= 1, 'a first reconciliation');
  for (let n = 1; n <= BY_TRIGGER; n++) expect((await lab.logScan(n)).status).toBe(202);
  await lab.waitFor(async () => (await lab.filed()).records === BY_TRIGGER, 'the records sent by trigger to be filed');

  await lab.killWorker();
  await lab.api?.stop();
  for (let n = BY_TRIGGER + 1; n <= GOOD; n++) lab.addRedcapRow(n);
  lab.addRedcapRow(BAD, 'SPN01_CMH_not_a_session');
  // REDCap's triggers find nobody: they are gone for good.
  expect(await lab.logScan(BY_TRIGGER + 1).catch((err: Error) => err.message)).toBe('fetch failed');
  await sleep(10_000); // schedule actions come and wait for a worker (never two at once)

  await lab.startApi();
  await lab.startWorker();

  await lab.waitFor(async () => (await lab.filed()).records === GOOD, `${GOOD} records filed`);
  await lab.waitFor(
    () => lab.mail().filter((m) => m.subject.includes('No scan data')).length >= GOOD,
    `${GOOD} no-scans emails`,
  );
  await lab.waitFor(
    () => lab.mail().some((m) => m.subject.includes(`REDCap record ${BAD} could not be filed`)),
    'the email about the bad record',
  );
  await lab.waitFor(
    () => lab.mail().some((m) => m.subject.includes('arrived without a Data Entry Trigger')),
    'the missed-triggers email',
  );
  // A few more runs: they find everything as filed, and start nothing.
  const runsSoFar = await reconcileRuns('Completed');
  await lab.waitFor(
    async () => (await reconcileRuns('Completed')) >= runsSoFar + 3,
    'three more reconciliations',
    60_000,
  );
  await sleep(3_000);

  const filed = await lab.filed();
  const mail = lab.mail();
  const counts = {
    recordsCompleted: BAD,
    byTrigger: BY_TRIGGER,
    recordsFiled: filed.records,
    sessions: filed.sessions,
    duplicateRecords: filed.duplicateRecords,
    intakeRuns: await lab.workflows('RedcapIntakeWorkflow'),
    intakesFailed: await lab.workflows('RedcapIntakeWorkflow', 'Failed'),
    scanImportWorkflows: await lab.workflows('ScanImportWorkflow'),
    reconcileRuns: await reconcileRuns(),
    reconcileRunsFailed: await reconcileRuns('Failed'),
    // Counted by the worker that came back.
    missedTriggersMetric: await lab.workerMetric('redcap_missed_triggers_total{config="1"}'),
    noScansEmailsPerSession: lab.emailsPerSession(GOOD),
    intakeFailedEmails: mail.filter((m) => m.subject.includes('could not be filed')).length,
    missedTriggerEmails: mail.filter((m) => m.subject.includes('arrived without a Data Entry Trigger')).length,
    emails: mail.length,
  };
  console.log(`fault: API and worker down while records are completed: ${JSON.stringify(counts)}`);
  expect(counts).toMatchObject({
    recordsFiled: GOOD,
    sessions: GOOD,
    duplicateRecords: 0,
    intakeRuns: BAD,
    intakesFailed: 1,
    scanImportWorkflows: GOOD,
    reconcileRunsFailed: 0,
    missedTriggersMetric: BAD - BY_TRIGGER,
    noScansEmailsPerSession: Array(GOOD).fill(1),
    intakeFailedEmails: 1,
    missedTriggerEmails: 1,
    emails: GOOD + 2,
  });
  const missed = mail.find((m) => m.subject.includes('arrived without a Data Entry Trigger'))!;
  expect(missed.subject).toBe(
    `REDCap project 1234 (mri_scan_log): ${BAD - BY_TRIGGER} records arrived without a Data Entry Trigger`,
  );
});
