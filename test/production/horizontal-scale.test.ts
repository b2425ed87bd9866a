/**
 * Horizontal scale on the production Temporal server: two API processes and two worker processes on one task
 * queue. The triggers of a fleet alternate between the APIs; one worker is SIGKILLed in the middle of the fleet
 * and stays dead. Every trigger is filed once, every monitor finishes, every session gets one email; the
 * workflow histories say which worker ran what (per worker identity, `<pid>@<host>`: workflow tasks completed,
 * and activities by the worker of their recorded attempt: a history keeps only the last attempt's start).
 */
import { FaultLab } from '../faults/fault-lab';
import { freePort } from '../support/ports';

jest.setTimeout(600_000);

const FLEET = 24;
let lab: FaultLab;

beforeAll(async () => {
  lab = await FaultLab.start({ scanCheckDelay: '20s', temporal: 'production' });
});

afterAll(async () => {
  await lab?.close();
});

/** A sample of a process's GET /metrics, e.g. `redcap_triggers_total{outcome="accepted"}`; 0 when absent. */
async function metric(url: string, sample: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** Per worker identity, over the histories of every workflow of the lab: workflow tasks completed, activities run. */
async function workByWorker(): Promise<Record<string, { workflowTasks: number; activities: number }>> {
  const work: Record<string, { workflowTasks: number; activities: number }> = {};
  const of = (identity: string) => (work[identity] ??= { workflowTasks: 0, activities: 0 });
  for await (const execution of lab.client.workflow.list()) {
    const history = await lab.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    for (const event of history.events ?? []) {
      const workflowTask = event.workflowTaskCompletedEventAttributes?.identity;
      const activity = event.activityTaskStartedEventAttributes?.identity;
      if (workflowTask) of(workflowTask).workflowTasks++;
      if (activity) of(activity).activities++;
    }
  }
  return work;
}

test('two APIs and two workers on one task queue; one worker SIGKILLed mid-fleet: every monitor finishes, one email each', async () => {
  const apis = [await lab.startApi(), await lab.startApi()];
  const first = await lab.startWorker();
  const second = await lab.startWorker({ WORKER_METRICS_PORT: String(await freePort()) });
  const workerName = (pid: number | undefined) =>
    pid === first.child.pid ? 'killed' : pid === second.child.pid ? 'survivor' : `pid ${pid}`;
  lab.redcap.slow(1_000); // intakes are in flight on both workers when one dies

  const statuses: number[] = [];
  const send = async (from: number, to: number) => {
    for (let n = from; n <= to; n++) statuses.push((await lab.logScan(n, { apiUrl: apis[n % 2] })).status);
  };
  await send(1, FLEET / 2);
  await lab.waitFor(() => lab.redcap.calls.length >= FLEET / 4, 'the workers to read the first records from REDCap');
  const tasksOf = async (pid: number | undefined) =>
    Object.entries(await workByWorker()).find(([identity]) => identity.startsWith(`${pid}@`))?.[1].workflowTasks ?? 0;
  await lab.waitFor(
    async () => (await tasksOf(first.child.pid)) > 0,
    'the worker about to be killed to have done some work',
  );
  await first.stop('SIGKILL');
  const killedAfter = { triggers: FLEET / 2, redcapCalls: lab.redcap.calls.length };
  await send(FLEET / 2 + 1, FLEET);
  expect(statuses).toEqual(Array(FLEET).fill(202));

  await lab.waitFor(
    async () =>
      (await lab.filed().then(
        (f) => f.records,
        () => -1,
      )) === FLEET,
    `${FLEET} records filed`,
    240_000,
  );
  await lab.waitFor(
    async () => (await lab.workflows('RedcapIntakeWorkflow', 'Completed')) === FLEET,
    'every intake to complete',
    240_000,
  );
  await lab.waitFor(
    async () => (await lab.workflows('ScanImportWorkflow', 'Completed')) === FLEET,
    'every monitor to complete',
    240_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 3_000)); // a second email would come now, if at all

  const filed = await lab.filed();
  const perSession = lab.emailsPerSession(FLEET);
  const byWorker = Object.fromEntries(
    Object.entries(await workByWorker()).map(([identity, work]) => [
      `${workerName(Number(identity.split('@')[0]))} (${identity})`,
      work,
    ]),
  );
  const counts = {
    triggers: FLEET,
    acceptedPerApi: [
      await metric(apis[0], 'redcap_triggers_total{outcome="accepted"}'),
      await metric(apis[1], 'redcap_triggers_total{outcome="accepted"}'),
    ],
    killedAfter,
    recordsFiled: filed.records,
    sessions: filed.sessions,
    duplicateRecords: filed.duplicateRecords,
    intakesCompleted: await lab.workflows('RedcapIntakeWorkflow', 'Completed'),
    monitorsCompleted: await lab.workflows('ScanImportWorkflow', 'Completed'),
    emails: lab.mail().length,
    sessionsWithOneEmail: perSession.filter((n) => n === 1).length,
    byWorker,
  };
  console.log(`fault: [production] 2 APIs, 2 workers, one SIGKILLed mid-fleet: ${JSON.stringify(counts)}`);
  expect(counts.acceptedPerApi).toEqual([FLEET / 2, FLEET / 2]);
  expect(filed).toEqual({ records: FLEET, sessions: FLEET, links: FLEET, duplicateRecords: 0 });
  expect(perSession).toEqual(Array(FLEET).fill(1));
  expect(lab.mail()).toHaveLength(FLEET);
  // Both workers took work before the kill; the survivor finished the fleet.
  expect(Object.keys(byWorker).filter((name) => name.startsWith('killed'))).toHaveLength(1);
  expect(Object.keys(byWorker).filter((name) => name.startsWith('survivor'))).toHaveLength(1);
});
