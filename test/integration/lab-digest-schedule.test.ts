/**
 * The digest schedules on the suite's Temporal dev server: `lab-digest:<studyId>` daily at DIGEST_AT in TZ, created,
 * left alone, updated, paused while DIGEST_AT is off and unpaused after, deleted with its study; a run it starts
 * (triggered now) sends the study's digest through a real worker and a real SMTP server.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Study, StudySite } from '../../src/db/entities';
import { findOrCreateSession } from '../../src/sessions/domain';
import { syncDigestSchedules, type DigestScheduleSettings } from '../../src/temporal/digest-schedules';
import { labDigestScheduleId } from '../../surface';
import { addScan } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';
import { connectDevServer, quietTemporalLogs } from '../support/temporal';

/** A study of this run's own: schedule ids are global on the shared dev server. */
const STUDY = `DG${randomUUID().replace(/-/g, '').slice(0, 8).toUpperCase()}`;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let lab: MonitorHarness;
const study = { id: STUDY, name: 'Digest study' };
const em = () => lab.orm.em.fork() as EntityManager;
const settings = (at: DigestScheduleSettings['at']): DigestScheduleSettings => ({
  taskQueue: lab.config.taskQueue,
  at,
  timeZone: 'America/Toronto',
});
const handle = () => temporal.client.schedule.getHandle(labDigestScheduleId(STUDY));

beforeAll(async () => {
  quietTemporalLogs();
  temporal = await connectDevServer();
  lab = await startMonitorHarness(temporal, { env: { TZ: 'America/Toronto' } });
  const seed = em();
  seed.create(StudySite, { study: seed.create(Study, study), site: 'CMH', code: STUDY, usesRedcap: true });
  await seed.flush();
});

afterAll(async () => {
  await handle()
    .delete()
    .catch(() => undefined);
  await lab?.close();
  await temporal?.close();
});

test('created at DIGEST_AT in TZ, then left alone, updated, paused while off, unpaused, deleted with its study', async () => {
  const scheduleId = labDigestScheduleId(STUDY);
  expect(await syncDigestSchedules(temporal.client, settings({ hour: 8, minute: 0 }), [study])).toEqual([
    { scheduleId, action: 'created', detail: 'daily at 08:00 America/Toronto' },
  ]);
  const described = await handle().describe();
  expect(described.spec.timezone).toBe('America/Toronto');
  expect(described.spec.calendars).toHaveLength(1);
  expect(described.spec.calendars![0]).toMatchObject({ hour: [{ start: 8 }], minute: [{ start: 0 }] });
  expect(described.action).toMatchObject({
    workflowType: 'LabDigestWorkflow',
    taskQueue: lab.config.taskQueue,
    args: [{ studyId: STUDY }],
  });
  expect(described.policies.overlap).toBe('SKIP');
  expect(described.memo).toMatchObject({ studyId: STUDY, taskQueue: lab.config.taskQueue });

  expect(await syncDigestSchedules(temporal.client, settings({ hour: 8, minute: 0 }), [study])).toEqual([
    { scheduleId, action: 'unchanged', detail: 'daily at 08:00 America/Toronto' },
  ]);
  expect(await syncDigestSchedules(temporal.client, settings({ hour: 7, minute: 30 }), [study])).toEqual([
    { scheduleId, action: 'updated', detail: 'daily at 07:30 America/Toronto' },
  ]);
  expect((await handle().describe()).spec.calendars![0]).toMatchObject({
    hour: [{ start: 7 }],
    minute: [{ start: 30 }],
  });
  expect(await syncDigestSchedules(temporal.client, settings(null), [study])).toEqual([
    { scheduleId, action: 'paused', detail: 'DIGEST_AT is off' },
  ]);
  expect((await handle().describe()).state).toMatchObject({ paused: true, note: 'Paused: DIGEST_AT is off' });
  expect(await syncDigestSchedules(temporal.client, settings({ hour: 7, minute: 30 }), [study])).toEqual([
    { scheduleId, action: 'unpaused', detail: 'daily at 07:30 America/Toronto' },
  ]);
  expect(await syncDigestSchedules(temporal.client, settings({ hour: 7, minute: 30 }), [])).toEqual([
    { scheduleId, action: 'deleted', detail: 'its study is no longer in the database' },
  ]);
});

test('a run of the schedule sends the study’s digest', async () => {
  await syncDigestSchedules(temporal.client, settings({ hour: 8, minute: 0 }), [study]);
  const session = `${STUDY}_CMH_0001_01_01`;
  await findOrCreateSession(em(), session, '2026-11-20');
  await addScan(lab.orm, session); // scans, and no REDCap record: outstanding
  await handle().trigger();
  await eventually(
    () => lab.smtp.messages.some((mail) => mail.subject.startsWith(`[${STUDY}] Daily scan report`)),
    'the digest',
    60_000,
  );
  const [mail] = lab.smtp.messages.filter((m) => m.subject.startsWith(`[${STUDY}]`));
  expect(mail.subject).toBe(`[${STUDY}] Daily scan report: 0 missing scans, 1 without REDCap`);
  expect(mail.text).toContain(`${session} (CMH, scanned 2026-11-20): scans but no REDCap record, since today`);
  const { info } = await handle().describe();
  expect(info.recentActions).toHaveLength(1);
});
