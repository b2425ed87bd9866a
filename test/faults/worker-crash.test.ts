/**
 * The worker dies (SIGKILL) in the middle of the work, and a new one takes over. Every trigger sent is filed
 * exactly once and every expected email is sent exactly once. Runs on each Temporal server kind of
 * TEST_TEMPORAL_SERVERS (test/support/server-kinds.ts).
 */
import { temporalServerKinds } from '../support/server-kinds';
import { FaultLab } from './fault-lab';

jest.setTimeout(300_000);

const TRIGGERS = 8;

describe.each(temporalServerKinds())('on the %s Temporal server', (kind) => {
  let lab: FaultLab;

  beforeAll(async () => {
    lab = await FaultLab.start({ scanCheckDelay: '15s', temporal: kind });
    await lab.startApi();
    await lab.startWorker();
  });

  afterAll(async () => {
    await lab?.close();
  });

  const allWaiting = async (from: number, to: number) => {
    for (let n = from; n <= to; n++) {
      const status = await lab.client.workflow
        .getHandle(`scan-import:${FaultLab.sessionId(n)}`)
        .query<{ state: string }>('status')
        .catch(() => undefined);
      if (status?.state !== 'waiting') return false;
    }
    return true;
  };

  test('worker killed while it reads records from REDCap: each trigger is filed once', async () => {
    // Long enough that every record is still being read when the worker dies, however slowly the reads began:
    // a read is retried 10 s after the crash (its heartbeat timeout), but an intake already filing its record
    // would wait out a minute (fileRedcapRecord's start-to-close), and its monitor would start too late to be
    // waiting with the others.
    lab.redcap.slow(10_000);
    for (let n = 1; n <= TRIGGERS; n++) expect((await lab.logScan(n)).status).toBe(202);
    await lab.waitFor(() => lab.redcap.calls.length >= TRIGGERS, 'the worker to call REDCap for every record');
    await lab.killWorker();
    lab.redcap.heal();
    await lab.startWorker();

    await lab.waitFor(async () => (await lab.filed()).records === TRIGGERS, `${TRIGGERS} records filed`);
    await lab.waitFor(
      async () => (await lab.workflows('RedcapIntakeWorkflow', 'Completed')) === TRIGGERS,
      'every intake to complete',
    );
    // The same triggers again (each form saved again, unchanged): each intake reads its record again, and files
    // nothing new and starts no second monitor.
    for (let n = 1; n <= TRIGGERS; n++) expect((await lab.logScan(n)).status).toBe(202);
    await lab.waitFor(
      async () => (await lab.workflows('RedcapIntakeWorkflow', 'Completed')) === 2 * TRIGGERS,
      'every intake to read again',
    );
    await lab.waitFor(() => allWaiting(1, TRIGGERS), 'every monitor to wait');

    const filed = await lab.filed();
    const counts = {
      triggersSent: TRIGGERS * 2,
      recordsFiled: filed.records,
      sessions: filed.sessions,
      duplicateRecords: filed.duplicateRecords,
      intakeWorkflows: await lab.workflows('RedcapIntakeWorkflow'),
      scanImportWorkflows: await lab.workflows('ScanImportWorkflow'),
      redcapCalls: lab.redcap.calls.length,
    };
    console.log(`fault: [${kind}] worker SIGKILL during intake: ${JSON.stringify(counts)}`);
    expect(counts).toMatchObject({
      recordsFiled: TRIGGERS,
      sessions: TRIGGERS,
      duplicateRecords: 0,
      intakeWorkflows: 2 * TRIGGERS, // runs: one per trigger
      scanImportWorkflows: TRIGGERS,
    });
  });

  test('worker killed while the monitors wait: each session gets one email, after the new worker starts', async () => {
    // The monitors of the first test are waiting out their 15 s; the worker dies and stays dead past that.
    await lab.killWorker();
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    expect(lab.mail()).toHaveLength(0);
    await lab.startWorker();

    await lab.waitFor(() => lab.mail().length >= TRIGGERS, `${TRIGGERS} emails`);
    await lab.waitFor(
      async () => (await lab.workflows('ScanImportWorkflow', 'Completed')) === TRIGGERS,
      'every monitor to complete',
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // a second email would come now, if at all
    const perSession = lab.emailsPerSession(TRIGGERS);
    console.log(
      `fault: [${kind}] worker SIGKILL during the wait: emails per session ${JSON.stringify(perSession)}, total ${lab.mail().length}`,
    );
    expect(perSession).toEqual(Array(TRIGGERS).fill(1));
    expect(lab.mail()).toHaveLength(TRIGGERS);
  });
});
