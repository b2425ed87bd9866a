/**
 * The XNAT sync schedules on the suite's Temporal dev server, with a real worker (real activities), a real database
 * and a fake XNAT: `xnat-sync:<xnatConfigId>` is created with the config and kept in step with it (interval, off,
 * gone); a scheduled run files what XNAT has and starts RedcapRecordMonitor (`redcap-record:<session>`, with its
 * search attributes), which GET /sessions/:id shows and its cancel ends.
 */
import request from 'supertest';
import { createApp } from '../../src/app';
import { XnatConfig } from '../../src/db/xnat';
import { syncSchedulesWith, syncXnatSchedules, type ScheduleSettings } from '../../src/temporal/schedules';
import { redcapRecordWorkflowId, SessionIdAttribute, xnatSyncScheduleId } from '../../surface';
import { FakeXnat } from '../support/fake-xnat';
import { seedSession, seedXnat, uniqueSessionId } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';
import { connectDevServer, quietTemporalLogs } from '../support/temporal';

const TOKEN = 'xnat-sync-token';
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let lab: MonitorHarness;
let xnat: FakeXnat;
let server: { id: number; url: string };

beforeAll(async () => {
  quietTemporalLogs();
  temporal = await connectDevServer();
  lab = await startMonitorHarness(temporal, { env: { API_TOKEN: TOKEN, XNAT_TIMEOUT: '2s' } });
  xnat = (await FakeXnat.start()).addProject('SPN01_CMH');
  await seedXnat(lab.orm, xnat, [['SPN01_CMH', 'CMH']]);
  server = await lab.orm.em.fork().findOneOrFail(XnatConfig, { url: xnat.url }, { fields: ['id', 'url'] });
});

afterAll(async () => {
  await temporal?.client.schedule
    .getHandle(xnatSyncScheduleId(server.id))
    .delete()
    .catch(() => undefined);
  await lab?.close();
  await xnat?.close();
  await temporal?.close();
});

const settings = (intervalMs: number | null): ScheduleSettings => ({ taskQueue: lab.config.taskQueue, intervalMs });

test('the schedule follows the XNAT config: created, updated, paused while off, deleted with its config', async () => {
  const scheduleId = xnatSyncScheduleId(server.id);
  const handle = temporal.client.schedule.getHandle(scheduleId);
  const sync = async (intervalMs: number | null, servers = [server]) =>
    (await syncXnatSchedules(temporal.client, settings(intervalMs), servers)).find(
      (change) => change.scheduleId === scheduleId,
    );

  expect(await sync(3_600_000)).toEqual({ scheduleId, action: 'created', detail: 'every 1 hour' });
  const created = await handle.describe();
  expect(created.action).toMatchObject({ workflowType: 'XnatSyncWorkflow', args: [{ xnatConfigId: server.id }] });
  expect(created.memo).toEqual({ xnatConfigId: server.id, xnatUrl: xnat.url, taskQueue: lab.config.taskQueue });
  expect(JSON.stringify(created)).not.toContain(xnat.password);
  expect(await sync(3_600_000)).toMatchObject({ action: 'unchanged' });
  expect(await sync(1_800_000)).toEqual({ scheduleId, action: 'updated', detail: 'every 30 minutes' });
  expect(await sync(null)).toEqual({ scheduleId, action: 'paused', detail: 'XNAT_SYNC_INTERVAL is off' });
  expect((await handle.describe()).state).toMatchObject({ paused: true, note: 'Paused: XNAT_SYNC_INTERVAL is off' });
  expect(await sync(1_800_000)).toMatchObject({ action: 'unpaused' });
  expect(await sync(1_800_000, [])).toEqual({
    scheduleId,
    action: 'deleted',
    detail: 'its XNAT config is no longer in the database',
  });
  await expect(handle.describe()).rejects.toThrow();

  // As config apply and a start make them: from the database, with XNAT_SYNC_INTERVAL.
  const changes = await syncSchedulesWith(lab.orm, temporal.client, lab.config);
  expect(changes).toContainEqual({ scheduleId, action: 'created', detail: 'every 1 hour' });
});

test('a scheduled run files the session XNAT has and starts its RedcapRecordMonitor; GET shows it, cancel ends it', async () => {
  const sessionId = uniqueSessionId('CMH', 1);
  const logged = uniqueSessionId('CMH', 2);
  await seedSession(lab.orm, logged);
  xnat.addExperiment({ project: 'SPN01_CMH', label: sessionId, scans: 3 });
  xnat.addExperiment({ project: 'SPN01_CMH', label: logged, scans: 3 });
  await syncXnatSchedules(temporal.client, settings(3_600_000), [server]);
  await temporal.client.schedule.getHandle(xnatSyncScheduleId(server.id)).trigger();

  const monitor = temporal.client.workflow.getHandle(redcapRecordWorkflowId(sessionId));
  await eventually(
    () =>
      monitor.describe().then(
        (d) => d.status.name === 'RUNNING',
        () => false,
      ),
    'the RedcapRecordMonitor to start',
  );
  const described = await monitor.describe();
  expect(described.typedSearchAttributes.get(SessionIdAttribute)).toBe(sessionId);
  expect(described.memo).toMatchObject({ sessionId, studyId: 'SPN01', siteId: 'CMH', monitor: 'redcap-record' });
  const runs = await temporal.client.schedule.getHandle(xnatSyncScheduleId(server.id)).describe();
  const [run] = runs.info.recentActions;
  expect(
    await temporal.client.workflow
      .getHandle(run.action.workflow.workflowId, run.action.workflow.firstExecutionRunId)
      .result(),
  ).toEqual({
    projects: [
      expect.objectContaining({
        project: 'SPN01_CMH',
        listed: 2,
        changed: 2,
        filed: 2,
        newSessions: 1,
        redcapRecordMonitors: 1,
      }),
    ],
  });
  await expect(temporal.client.workflow.getHandle(redcapRecordWorkflowId(logged)).describe()).rejects.toThrow();

  const app = createApp({ config: lab.config, orm: lab.orm, temporal: temporal.client }).callback();
  const auth = { Authorization: `Bearer ${TOKEN}` };
  await eventually(async () => {
    const { body } = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
    const monitors = body.monitors as Array<{ monitor: string; state?: string }>;
    return monitors.some((m) => m.monitor === 'redcap-record' && m.state === 'waiting');
  }, 'GET /sessions/:id to show the waiting monitor');
  const shown = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
  expect(shown.body).toMatchObject({
    redcapRecord: null,
    xnat: { state: 'archived' },
    xnatProject: { project: 'SPN01_CMH', url: xnat.url },
  });

  const cancelled = await request(app)
    .post(`/sessions/${sessionId}/monitors/cancel`)
    .set(auth)
    .send({ reason: 'a pilot scan' })
    .expect(200);
  expect(cancelled.body.signalled).toContainEqual({
    monitor: 'redcap-record',
    workflowId: redcapRecordWorkflowId(sessionId),
  });
  // The typed reason stays in PostgreSQL (the signal carries none): the result has none, GET shows the recorded one.
  expect(await monitor.result()).toEqual({ outcome: 'cancelled' });
  const after = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
  expect(after.body.monitors).toContainEqual(
    expect.objectContaining({ monitor: 'redcap-record', outcome: 'cancelled', cancelReason: 'a pilot scan' }),
  );
  expect(lab.smtp.messages).toHaveLength(0);
});
