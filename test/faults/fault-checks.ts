/**
 * What the fault tests of services-restart.test.ts and dependencies-down.test.ts share: a lab per test (API and
 * worker started, closed after the test), triggers, and the checks that every record is filed once and every
 * email sent once.
 */
import type { TemporalServerKind } from '../support/server-kinds';
import { FaultLab } from './fault-lab';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** For a test file: starts a lab with its API and worker; each is closed after its test. */
export function labPerTest(): (scanCheckDelay: string, temporal?: TemporalServerKind) => Promise<FaultLab> {
  let lab: FaultLab | undefined;
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });
  return async (scanCheckDelay, temporal = 'dev') => {
    lab = await FaultLab.start({ scanCheckDelay, temporal });
    await lab.startApi();
    await lab.startWorker();
    return lab;
  };
}

export async function sendTriggers(lab: FaultLab, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) expect((await lab.logScan(n)).status).toBe(202);
}

/** Filed rows, read again until PostgreSQL answers (it may be coming back). */
const filedRecords = (lab: FaultLab) =>
  lab.filed().then(
    (f) => f.records,
    () => -1,
  );

/** Waits for one email per session, then a little longer for any second one, and checks there is none. */
export async function expectOneEmailEach(lab: FaultLab, sessions: number): Promise<number[]> {
  await lab.waitFor(() => lab.mail().length >= sessions, `${sessions} emails`);
  await lab.waitFor(
    async () => (await lab.workflows('ScanImportWorkflow', 'Completed')) === sessions,
    'every monitor to complete',
  );
  await sleep(3_000);
  const perSession = lab.emailsPerSession(sessions);
  expect(perSession).toEqual(Array(sessions).fill(1));
  expect(lab.mail()).toHaveLength(sessions);
  return perSession;
}

export async function expectFiledOnce(lab: FaultLab, triggers: number) {
  await lab.waitFor(async () => (await filedRecords(lab)) === triggers, `${triggers} records filed`);
  await lab.waitFor(
    async () => (await lab.workflows('RedcapIntakeWorkflow', 'Completed')) === triggers,
    'every intake to complete',
  );
  const filed = await lab.filed();
  expect(filed).toEqual({ records: triggers, sessions: triggers, links: triggers, duplicateRecords: 0 });
  expect(await lab.workflows('ScanImportWorkflow')).toBe(triggers);
  return filed;
}
