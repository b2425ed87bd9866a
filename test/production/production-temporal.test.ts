/**
 * Smoke test of the production Temporal path: `temporal-server` at docker-compose.yml's version on PostgreSQL
 * (schema, namespace and search attributes by deploy/temporal/*.sh), `npm run api` and `npm run worker` on it.
 * A REDCap trigger is filed and starts its monitor; one session gets its scans, the other its email; ops find
 * them with `SessionId="…"`; the workflows are in Temporal's PostgreSQL databases.
 */
import { Client as PgClient } from 'pg';
import { FaultLab } from '../faults/fault-lab';
import { composeTemporalVersion } from '../support/production-temporal';

jest.setTimeout(300_000);

let lab: FaultLab;

beforeAll(async () => {
  lab = await FaultLab.start({ scanCheckDelay: '10s', temporal: 'production' });
  await lab.startApi();
  await lab.startWorker();
});

afterAll(async () => {
  await lab?.close();
});

/** Rows of a query on one of Temporal's databases on the lab's PostgreSQL. */
async function temporalDb(database: string, sql: string): Promise<number> {
  const url = new URL(lab.databaseUrl);
  url.pathname = `/${database}`;
  const pg = new PgClient({ connectionString: url.toString() });
  await pg.connect();
  try {
    return Number((await pg.query<{ n: string }>(sql)).rows[0].n);
  } finally {
    await pg.end();
  }
}

test('intake, monitors, email and search attributes on temporal-server with PostgreSQL', async () => {
  const { serverVersion } = await lab.client.connection.workflowService.getSystemInfo({});
  expect(serverVersion).toBe(composeTemporalVersion());

  const withEmail = FaultLab.sessionId(1);
  const withScans = FaultLab.sessionId(2);
  for (const n of [1, 2]) expect((await lab.logScan(n)).status).toBe(202);
  await lab.waitFor(
    async () => (await lab.workflows('RedcapIntakeWorkflow', 'Completed')) === 2,
    'both intakes to complete',
  );

  const registered = await fetch(`${lab.apiUrl}/sessions/${withScans}/scans`, {
    method: 'POST',
    headers: { authorization: `Bearer ${lab.env.API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `${withScans}_T1_MPRAGE`, series: 1, tag: 'T1' }),
  });
  expect(registered.status).toBe(201);

  const outcome = (sessionId: string) =>
    lab.client.workflow.getHandle(`scan-import:${sessionId}`).result() as Promise<{ outcome: string }>;
  expect(await outcome(withScans)).toEqual({ outcome: 'scans-present' });
  expect(await outcome(withEmail)).toEqual({ outcome: 'email-sent' });
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // a second email would come now, if at all
  expect(lab.emailsPerSession(2)).toEqual([1, 0]);

  // Ops' Web UI filter: the session's intake and monitor, found through the SQL visibility store.
  const found: string[] = [];
  await lab.waitFor(async () => {
    found.length = 0;
    for await (const execution of lab.client.workflow.list({ query: `SessionId="${withEmail}"` }))
      found.push(execution.workflowId);
    return found.length === 2;
  }, `SessionId="${withEmail}" to list the intake and the monitor`);
  expect(found.sort()).toEqual([expect.stringMatching(/^redcap-intake:/), `scan-import:${withEmail}`]);
  const bySite = (
    await lab.client.workflow.count('StudyId="SPN01" AND SiteId="CMH" AND WorkflowType="ScanImportWorkflow"')
  ).count;
  expect(bySite).toBe(2);

  // The histories live in the `temporal` database, the list in `temporal_visibility`, on our PostgreSQL.
  const executions = await temporalDb('temporal', `select count(*) as n from executions`);
  const visible = await temporalDb(
    'temporal_visibility',
    `select count(*) as n from executions_visibility where workflow_id like 'scan-import:%'`,
  );
  expect(executions).toBeGreaterThanOrEqual(4);
  expect(lab.worker?.output()).toContain(process.env.WORKFLOW_BUNDLE_PATH ? 'prebuilt bundle' : 'bundled at start');
  expect(visible).toBe(2);
  console.log(
    `production: temporal-server ${serverVersion} on PostgreSQL: 2 intakes, monitors ${JSON.stringify({ [withScans]: 'scans-present', [withEmail]: 'email-sent' })}, ` +
      `emails per session ${JSON.stringify(lab.emailsPerSession(2))}, SessionId query found ${JSON.stringify(found)}, ` +
      `rows: temporal.executions ${executions}, temporal_visibility.executions_visibility (scan-import) ${visible}; ` +
      `seconds ${JSON.stringify(lab.production?.seconds)}`,
  );
});
