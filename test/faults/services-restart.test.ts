/**
 * The servers around the service fail for a while and come back: the Temporal server (restarted on its SQLite
 * file, or the production server on PostgreSQL), PostgreSQL, REDCap answering 5xx, the SMTP server. After each,
 * every trigger sent is filed exactly once and every expected email is sent exactly once. The Temporal server and
 * PostgreSQL cases run on each server kind of TEST_TEMPORAL_SERVERS (test/support/server-kinds.ts); on the
 * production server PostgreSQL also holds Temporal's databases, so its restart takes Temporal's persistence away too.
 */
import { temporalServerKinds, type TemporalServerKind } from '../support/server-kinds';
import { FaultLab } from './fault-lab';

jest.setTimeout(300_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let lab: FaultLab | undefined;

afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

const kinds = temporalServerKinds();

async function startLab(scanCheckDelay: string, temporal: TemporalServerKind = 'dev'): Promise<FaultLab> {
  lab = await FaultLab.start({ scanCheckDelay, temporal });
  await lab.startApi();
  await lab.startWorker();
  return lab;
}

async function sendTriggers(lab: FaultLab, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) expect((await lab.logScan(n)).status).toBe(202);
}

/** Filed rows, read again until PostgreSQL answers (it may be coming back). */
const filedRecords = (lab: FaultLab) => lab.filed().then((f) => f.records, () => -1);

/** Waits for one email per session, then a little longer for any second one, and checks there is none. */
async function expectOneEmailEach(lab: FaultLab, sessions: number): Promise<number[]> {
  await lab.waitFor(() => lab.mail().length >= sessions, `${sessions} emails`);
  await lab.waitFor(async () => (await lab.workflows('ScanImportWorkflow', 'Completed')) === sessions, 'every monitor to complete');
  await sleep(3_000);
  const perSession = lab.emailsPerSession(sessions);
  expect(perSession).toEqual(Array(sessions).fill(1));
  expect(lab.mail()).toHaveLength(sessions);
  return perSession;
}

async function expectFiledOnce(lab: FaultLab, triggers: number) {
  await lab.waitFor(async () => (await filedRecords(lab)) === triggers, `${triggers} records filed`);
  await lab.waitFor(async () => (await lab.workflows('RedcapIntakeWorkflow', 'Completed')) === triggers, 'every intake to complete');
  const filed = await lab.filed();
  expect(filed).toEqual({ records: triggers, sessions: triggers, links: triggers, duplicateRecords: 0 });
  expect(await lab.workflows('ScanImportWorkflow')).toBe(triggers);
  return filed;
}

describe.each(kinds)('on the %s Temporal server', (kind) => {
  test('Temporal server restarted on its data: monitors and intakes carry on, a trigger while it is down gets 503', async () => {
    const lab = await startLab('20s', kind);
    await sendTriggers(lab, 1, 6);
    await expectFiledOnce(lab, 6);

    await lab.stopTemporal();
    const down = await lab.logScan(7);
    expect(down.status).toBe(503);
    await sleep(5_000);
    await lab.startTemporal();
    // REDCap does not resend a DET; the operator (or REDCap's "resend") sends it again once Temporal is back.
    await lab.waitFor(async () => (await lab.logScan(7)).status === 202, 'the API to accept triggers again');

    const filed = await expectFiledOnce(lab, 7);
    const emails = await expectOneEmailEach(lab, 7);
    const server = lab.production ? `; temporal-server seconds ${JSON.stringify(lab.production.seconds)}` : '';
    console.log(`fault: [${kind}] Temporal server restart: 503 while down: ${down.status}; ${JSON.stringify(filed)}; emails per session ${JSON.stringify(emails)}${server}`);
  });

  test('PostgreSQL restarted while records are being filed: each is filed once, /readyz says the database is down meanwhile', async () => {
    const lab = await startLab('10s', kind);
    lab.redcap.slow(2_000);
    await sendTriggers(lab, 1, 6);
    await lab.waitFor(() => lab.redcap.calls.length >= 6, 'the worker to call REDCap for every record');
    await lab.stopPostgres();
    const readyz = await fetch(`${lab.apiUrl}/readyz`);
    const readyzBody = (await readyz.json()) as { database?: string };
    expect(readyz.status).toBe(503);
    expect(readyzBody.database).toBe('down');
    await sleep(5_000);
    await lab.startPostgres();
    lab.redcap.heal();

    const filed = await expectFiledOnce(lab, 6);
    const emails = await expectOneEmailEach(lab, 6);
    console.log(`fault: [${kind}] PostgreSQL restart: /readyz while down ${readyz.status} ${JSON.stringify(readyzBody)}; ${JSON.stringify(filed)}; emails per session ${JSON.stringify(emails)}`);
  });
});

// REDCap and SMTP failing do not concern the Temporal server: they run where the dev server does (npm test).
const onDevServer = kinds.includes('dev') ? test : test.skip;

onDevServer('REDCap answering 503 for a while: the records are filed once it is back', async () => {
  const lab = await startLab('1 hour');
  lab.redcap.failNext(12, 503);
  await sendTriggers(lab, 1, 4);
  const filed = await expectFiledOnce(lab, 4);
  const failed = lab.redcap.calls.filter((call) => call.status === 503).length;
  expect(failed).toBe(12);
  console.log(`fault: REDCap 503 x${failed}: ${JSON.stringify(filed)}; REDCap calls ${lab.redcap.calls.length}`);
});

onDevServer('SMTP server down when the emails are due: each is sent once when it is back', async () => {
  const lab = await startLab('5s');
  await lab.stopSmtp();
  await sendTriggers(lab, 1, 4);
  await expectFiledOnce(lab, 4);
  await sleep(12_000); // every monitor has tried to send, and failed
  expect(lab.mail()).toHaveLength(0);
  await lab.startSmtp();
  const emails = await expectOneEmailEach(lab, 4);
  const counted = await lab.workerMetric('emails_sent_total{kind="no-scans"}');
  expect(counted).toBe(4);
  console.log(`fault: SMTP down then back: emails per session ${JSON.stringify(emails)}; worker /metrics emails_sent_total ${counted}`);
});
