/**
 * The monitors and XNAT, on Temporal's time-skipping test server with the real default durations, real activities,
 * a real database, a real SMTP server and fake XNATs on loopback (SPN01 at CMH in project SPN01_CMH; SPN01 at ZHH in
 * SPN01_ZHH of an XNAT that is down):
 *   - each check of ScanImportWorkflow records the session's XNAT state, and the no-scans email says which case it is;
 *   - ScanDownloadWorkflow submits no download job before XNAT has archived the session (`waiting-for-xnat`);
 *   - XnatSyncWorkflow files the sessions XNAT has and starts RedcapRecordMonitor for those without a REDCap record;
 *   - RedcapRecordMonitor: email-sent once, record-filed, dismissed, cancelled.
 */
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { StudySite } from '../../src/db/entities';
import { XnatConfig } from '../../src/db/xnat';
import { xnatLabelProblemsTotal } from '../../src/metrics';
import { findSession, markExpectingNoRecord } from '../../src/sessions/domain';
import { viewSession } from '../../src/sessions/view';
import { describeSessionMonitors, startRedcapRecordMonitor, startScanMonitors } from '../../src/temporal/monitors';
import {
  cancelSignal,
  REDCAP_RECORD_MONITOR,
  redcapRecordWorkflowId,
  statusQuery,
  XNAT_SYNC_WORKFLOW,
  type RedcapRecordResult,
  type ScanDownloadResult,
  type XnatSyncResult,
} from '../../surface';
import type { RedcapRecordMonitor } from '../../workflows/redcap-record';
import type { XnatSyncWorkflow } from '../../workflows/xnat-sync';
import { FakeXnat } from '../support/fake-xnat';
import { addScan, seedSession, seedXnat } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';
import { createTimeSkippingEnv, quietTemporalLogs } from '../support/temporal';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let env: TestWorkflowEnvironment;
let lab: MonitorHarness;
let xnat: FakeXnat;
let downXnat: FakeXnat;
let serial = 0;

beforeAll(async () => {
  quietTemporalLogs();
  env = await createTimeSkippingEnv();
  lab = await startMonitorHarness(
    { client: env.client, nativeConnection: env.nativeConnection },
    { env: { XNAT_TIMEOUT: '2s' } },
  );
  xnat = (await FakeXnat.start({ timeZone: 'America/Toronto' })).addProject('SPN01_CMH');
  downXnat = (await FakeXnat.start()).addProject('SPN01_ZHH');
  await seedXnat(lab.orm, xnat, [['SPN01_CMH', 'CMH']]);
  await seedXnat(lab.orm, downXnat, [['SPN01_ZHH', 'ZHH']]);
  await downXnat.down();
});

afterAll(async () => {
  await lab?.close();
  await env?.teardown();
  await xnat?.close();
  await downXnat?.close();
});

beforeEach(() => {
  lab.smtp.messages.length = 0;
});

const nextSessionId = (site: 'CMH' | 'ZHH' = 'CMH') => `SPN01_${site}_${String(++serial).padStart(4, '0')}_01_01`;

/** A session logged in REDCap, and its monitors (the download monitor only with `download`; the other one cancelled). */
async function monitorsOf(sessionId: string, options: { download?: boolean; endTime?: string } = {}) {
  await seedSession(lab.orm, sessionId);
  const site = sessionId.split('_')[1];
  const started = await startScanMonitors(
    env.client,
    lab.config,
    { sessionId, studyId: 'SPN01', siteId: site, downloadScript: options.download ? 'download.sh' : null },
    { downloadEndTime: options.endTime },
  );
  if (options.download)
    await env.client.workflow
      .getHandle(started.scanImport.workflowId)
      .signal(cancelSignal, { reason: 'not under test' });
  return {
    scanImport: env.client.workflow.getHandle(started.scanImport.workflowId),
    scanDownload: started.scanDownload && env.client.workflow.getHandle(started.scanDownload.workflowId),
  };
}

const xnatOf = async (sessionId: string) => (await viewSession(lab.orm.em.fork(), sessionId)).xnat;

describe('the no-scans email says where the scans are', () => {
  test('not in XNAT at all', async () => {
    const sessionId = nextSessionId();
    const { scanImport } = await monitorsOf(sessionId);
    expect(await scanImport.result()).toEqual({ outcome: 'email-sent' });
    expect(await xnatOf(sessionId)).toEqual({ state: 'absent', checkedAt: expect.any(String) });
    const [mail] = lab.smtp.messages;
    expect(mail.subject).toBe(`[SPN01] No scan data received for ${sessionId}`);
    expect(mail.text).toContain(
      `Not in XNAT at all: XNAT project SPN01_CMH (${xnat.url}) has no session labelled ${sessionId}`,
    );
    expect(mail.text).toContain('The scanner may never have sent it, or sent it under another label or PatientID');
    expect(mail.text).toContain('XNAT:    not there (neither archived nor in the prearchive) (project SPN01_CMH');
    expect(lab.smtp.messages).toHaveLength(1);
  });

  test('stuck in the prearchive since …', async () => {
    const sessionId = nextSessionId();
    const uploadedAt = new Date('2026-11-20T16:05:00Z');
    xnat.addPrearchive({ project: 'SPN01_CMH', name: sessionId, uploadedAt });
    const { scanImport } = await monitorsOf(sessionId);
    expect(await scanImport.result()).toEqual({ outcome: 'email-sent' });
    expect(await xnatOf(sessionId)).toMatchObject({ state: 'prearchive', since: uploadedAt.toISOString() });
    const [mail] = lab.smtp.messages;
    expect(mail.text).toContain(`Stuck in XNAT's prearchive since 2026-11-20 16:05 UTC: XNAT project SPN01_CMH`);
    expect(mail.text).toContain("Archive it in XNAT's prearchive (check its subject and session labels first)");
  });

  test('archived in XNAT with its scans, never pulled into the lab’s archive', async () => {
    const sessionId = nextSessionId();
    xnat.addExperiment({
      project: 'SPN01_CMH',
      label: sessionId,
      insertedAt: new Date('2026-11-20T19:40:12Z'),
      scans: 12,
    });
    const { scanImport } = await monitorsOf(sessionId);
    expect(await scanImport.result()).toEqual({ outcome: 'email-sent' });
    expect(await xnatOf(sessionId)).toMatchObject({ state: 'archived', scans: 12 });
    const [mail] = lab.smtp.messages;
    expect(mail.text).toContain(
      `Archived in XNAT since 2026-11-20 19:40 UTC with 12 scans (XNAT project SPN01_CMH (${xnat.url})), but never pulled into the lab's archive`,
    );
    expect(mail.text).toContain("Pull it from XNAT into the lab's archive");
  });

  test('XNAT could not be reached (why), and the email is still sent once', async () => {
    const sessionId = nextSessionId('ZHH');
    const { scanImport } = await monitorsOf(sessionId);
    expect(await scanImport.result()).toEqual({ outcome: 'email-sent' });
    expect(await xnatOf(sessionId)).toMatchObject({
      state: 'unreachable',
      reason: expect.stringMatching(/could not be reached/),
    });
    expect(lab.smtp.messages).toHaveLength(1);
    const [mail] = lab.smtp.messages;
    expect(mail.text).toContain(`XNAT could not be reached: XNAT project SPN01_ZHH (${downXnat.url}) did not answer`);
    expect(mail.text).toMatch(/could not be reached \(ECONNREFUSED\)/);
    expect(mail.text).not.toContain(downXnat.password);
  });

  test('a study site without an XNAT project: XNAT is not mentioned', async () => {
    await lab.orm.em.fork().nativeDelete(XnatConfig, { url: downXnat.url });
    try {
      const sessionId = nextSessionId('ZHH');
      const { scanImport } = await monitorsOf(sessionId);
      expect(await scanImport.result()).toEqual({ outcome: 'email-sent' });
      expect(await xnatOf(sessionId)).toBeNull();
      expect(lab.smtp.messages[0].text).toContain('Please check that the data was sent from the scanner.');
      expect(lab.smtp.messages[0].text).not.toContain('XNAT');
    } finally {
      await seedXnat(lab.orm, downXnat, [['SPN01_ZHH', 'ZHH']]);
    }
  });
});

describe('downloads wait for XNAT', () => {
  test('in the prearchive: waiting-for-xnat, no job; archived: the job is submitted, then downloaded', async () => {
    const sessionId = nextSessionId();
    xnat.addPrearchive({ project: 'SPN01_CMH', name: sessionId });
    const { scanDownload } = await monitorsOf(sessionId, { download: true });
    await eventually(
      async () => (await scanDownload!.query(statusQuery)).state === 'waiting-for-xnat',
      'the monitor to wait for XNAT',
    );
    let lastFailure = '';
    await eventually(async () => {
      const [view] = (await describeSessionMonitors(env.client, sessionId)).filter(
        (m) => m.monitor === 'scan-download',
      );
      lastFailure = view.currentAttempt?.lastFailure ?? '';
      return view.state === 'waiting-for-xnat' && lastFailure !== '';
    }, 'the wait to show why');
    expect(lastFailure).toContain(`XNAT has ${sessionId} in its prearchive since`);
    expect(lab.jobRuns('download', sessionId)).toBe(0);

    await env.sleep(5 * HOUR); // checks on the backoff, still in the prearchive
    expect(lab.jobRuns('download', sessionId)).toBe(0);
    expect((await scanDownload!.query(statusQuery)).state).toBe('waiting-for-xnat');

    xnat.archive('SPN01_CMH', sessionId, { scans: 4 });
    await env.sleep(4 * HOUR); // the next check finds it archived: the job is submitted
    await eventually(() => lab.jobRuns('download', sessionId) >= 1, 'the download job');
    await addScan(lab.orm, sessionId);
    const submitted = lab.jobRuns('download', sessionId);
    const result = (await scanDownload!.result()) as ScanDownloadResult;
    expect(result.outcome).toBe('downloaded');
    expect(lab.jobRuns('download', sessionId)).toBe(submitted);
    expect(lab.jobRuns('post_download', sessionId)).toBe(1);
    expect(lab.smtp.messages).toHaveLength(0);
  });

  test('never archived until the end time: no job ever, gave-up, and the email says why', async () => {
    const sessionId = nextSessionId();
    xnat.addPrearchive({ project: 'SPN01_CMH', name: sessionId, uploadedAt: new Date('2026-11-21T09:00:00Z') });
    const endTime = new Date((await env.currentTimeMs()) + 3 * HOUR).toISOString();
    const { scanDownload } = await monitorsOf(sessionId, { download: true, endTime });
    expect(await scanDownload!.result()).toEqual({ outcome: 'gave-up', attempts: 0 });
    expect(lab.jobRuns('download', sessionId)).toBe(0);
    expect(lab.smtp.messages).toHaveLength(1);
    const [mail] = lab.smtp.messages;
    expect(mail.subject).toBe(`[SPN01] Scan download gave up for ${sessionId}`);
    expect(mail.text).toContain(`The download job for ${sessionId} was never submitted: over `);
    expect(mail.text).toContain(
      `(until ${endTime}) XNAT did not have the session archived, and no scan data has arrived.`,
    );
    expect(mail.text).toContain("Stuck in XNAT's prearchive since 2026-11-21 09:00 UTC");
  });

  test('archived, but the download brings nothing: the email says the job ran', async () => {
    const sessionId = nextSessionId();
    xnat.addExperiment({ project: 'SPN01_CMH', label: sessionId, scans: 3 });
    const endTime = new Date((await env.currentTimeMs()) + 3 * HOUR).toISOString();
    const { scanDownload } = await monitorsOf(sessionId, { download: true, endTime });
    expect(await scanDownload!.result()).toEqual({ outcome: 'gave-up', attempts: 2 });
    const [mail] = lab.smtp.messages;
    expect(mail.text).toContain(`was submitted 2 times over`);
    expect(mail.text).toContain('with 3 scans');
    expect(mail.text).toContain('The download job ran and brought nothing');
  });

  test('a site without an XNAT project downloads at once', async () => {
    await lab.orm.em.fork().nativeUpdate(StudySite, { site: 'ZHH' }, { downloadScript: 'download.sh' });
    await lab.orm.em.fork().nativeDelete(XnatConfig, { url: downXnat.url });
    try {
      const sessionId = nextSessionId('ZHH');
      const { scanDownload } = await monitorsOf(sessionId, { download: true });
      await eventually(() => lab.jobRuns('download', sessionId) >= 1, 'the download job');
      await addScan(lab.orm, sessionId);
      expect(await scanDownload!.result()).toMatchObject({ outcome: 'downloaded' });
    } finally {
      await lab.orm.em.fork().nativeUpdate(StudySite, { site: 'ZHH' }, { downloadScript: null });
      await seedXnat(lab.orm, downXnat, [['SPN01_ZHH', 'ZHH']]);
    }
  });
});

describe('sessions found from XNAT, and RedcapRecordMonitor', () => {
  const startMonitor = async (sessionId: string) => {
    await seedSession(lab.orm, sessionId, { record: false });
    await startRedcapRecordMonitor(env.client, lab.config, { sessionId, studyId: 'SPN01', siteId: 'CMH' });
    return env.client.workflow.getHandle<typeof RedcapRecordMonitor>(redcapRecordWorkflowId(sessionId));
  };

  test('XnatSyncWorkflow files what XNAT has and starts the monitor of a session without a REDCap record, once', async () => {
    const found = nextSessionId();
    const logged = nextSessionId();
    await seedSession(lab.orm, logged); // REDCap logged it first
    xnat.addExperiment({ project: 'SPN01_CMH', label: found.replace(/_01$/, '').concat('_SE01_MR'), scans: 2 });
    xnat.addExperiment({ project: 'SPN01_CMH', label: logged, scans: 2 });
    xnat.addExperiment({ project: 'SPN01_CMH', label: 'CMH_QA_SCAN_7', scans: 1 });
    const configId = (await lab.orm.em.fork().findOneOrFail(XnatConfig, { url: xnat.url })).id;
    const problemsBefore = (await xnatLabelProblemsTotal.get()).values.find((v) => v.labels.project === 'SPN01_CMH');

    // The sync is awaited in real time (a plain client leaves time skipping locked): awaited through the test
    // environment's client, time would run on, and the monitor it starts could wait out its 2 days before the cancel.
    const realTime = new Client({ connection: env.connection, namespace: env.namespace });
    const run = (n: number) =>
      realTime.workflow.execute<typeof XnatSyncWorkflow>(XNAT_SYNC_WORKFLOW, {
        taskQueue: lab.config.taskQueue,
        workflowId: `xnat-sync-test-${serial}-${n}`,
        args: [{ xnatConfigId: configId }],
      });
    const first: XnatSyncResult = await run(1);
    expect(first.projects).toEqual([
      expect.objectContaining({ project: 'SPN01_CMH', labelProblems: 1, redcapRecordMonitors: 1 }),
    ]);
    expect(first.projects[0].newSessions).toBeGreaterThanOrEqual(1);
    const problemsAfter = (await xnatLabelProblemsTotal.get()).values.find((v) => v.labels.project === 'SPN01_CMH');
    expect((problemsAfter?.value ?? 0) - (problemsBefore?.value ?? 0)).toBe(1);
    expect((await findSession(lab.orm.em.fork(), found)).id).toBe(found);

    const monitor = env.client.workflow.getHandle(redcapRecordWorkflowId(found));
    const described = await monitor.describe();
    expect(described.type).toBe(REDCAP_RECORD_MONITOR);
    expect(described.status.name).toBe('RUNNING');
    await expect(env.client.workflow.getHandle(redcapRecordWorkflowId(logged)).describe()).rejects.toThrow();

    // Awaiting a workflow lets time run: the monitor is cancelled first (it would wait out its 2 days and email).
    await monitor.signal(cancelSignal, { reason: 'not under test' });
    expect(await monitor.result()).toMatchObject({ outcome: 'cancelled' });
    const second = await run(2);
    expect(second.projects[0]).toMatchObject({ newSessions: 0, redcapRecordMonitors: 0 });
  });

  test('no record for REDCAP_RECORD_DELAY: one email, email-sent', async () => {
    const sessionId = nextSessionId();
    xnat.addExperiment({
      project: 'SPN01_CMH',
      label: sessionId,
      insertedAt: new Date('2026-11-20T19:40:00Z'),
      scans: 7,
    });
    const handle = await startMonitor(sessionId);
    await eventually(async () => (await handle.query(statusQuery)).state === 'waiting', 'the monitor to wait');
    const { startTime } = await handle.describe();
    expect(Date.parse((await handle.query(statusQuery)).nextCheckAt!) - startTime.getTime()).toBeGreaterThanOrEqual(
      2 * DAY,
    );
    expect(await handle.result()).toEqual<RedcapRecordResult>({ outcome: 'email-sent' });
    expect(lab.smtp.messages).toHaveLength(1);
    const [mail] = lab.smtp.messages;
    expect(mail.subject).toBe(`[SPN01] No REDCap record for ${sessionId}`);
    expect(mail.to).toEqual(['ada@example.org']);
    expect(mail.text).toContain(`XNAT has ${sessionId}, but after waiting 2 days no REDCap record names it.`);
    expect(mail.text).toContain('REDCap record: none linked');
    const { closeTime } = await handle.describe();
    expect(closeTime!.getTime() - startTime.getTime()).toBeGreaterThanOrEqual(2 * DAY);
  });

  test('a record filed meanwhile: record-filed, no email; the intake’s start of the monitors ends it at once', async () => {
    const sessionId = nextSessionId();
    const handle = await startMonitor(sessionId);
    await eventually(async () => (await handle.query(statusQuery)).state === 'waiting', 'the monitor to wait');
    await seedSession(lab.orm, sessionId); // the record is filed
    await startScanMonitors(env.client, lab.config, { sessionId, studyId: 'SPN01', siteId: 'CMH' });
    await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 'the monitor to end');
    expect(await handle.result()).toEqual({ outcome: 'record-filed' });
    const { startTime, closeTime } = await handle.describe();
    expect(closeTime!.getTime() - startTime.getTime()).toBeLessThan(HOUR);
    await env.client.workflow.getHandle(`scan-import:${sessionId}`).signal(cancelSignal, { reason: 'not under test' });
    expect(lab.smtp.messages.filter((m) => m.subject.includes('REDCap'))).toHaveLength(0);
  });

  test('a record filed without a signal is found at the end of the wait', async () => {
    const sessionId = nextSessionId();
    const handle = await startMonitor(sessionId);
    await eventually(async () => (await handle.query(statusQuery)).state === 'waiting', 'the monitor to wait');
    await seedSession(lab.orm, sessionId);
    expect(await handle.result()).toEqual({ outcome: 'record-filed' });
    expect(lab.smtp.messages).toHaveLength(0);
  });

  test('marked as expecting no REDCap record: dismissed, no email', async () => {
    const sessionId = nextSessionId();
    const handle = await startMonitor(sessionId);
    await eventually(async () => (await handle.query(statusQuery)).state === 'waiting', 'the monitor to wait');
    const em = lab.orm.em.fork();
    await markExpectingNoRecord(em, await findSession(em, sessionId));
    expect(await handle.result()).toEqual({ outcome: 'dismissed' });
    expect(lab.smtp.messages).toHaveLength(0);
  });

  test('cancel: cancelled with the reason, no email', async () => {
    const sessionId = nextSessionId();
    const handle = await startMonitor(sessionId);
    await eventually(async () => (await handle.query(statusQuery)).state === 'waiting', 'the monitor to wait');
    await handle.signal(cancelSignal, { reason: 'phantom scan' });
    expect(await handle.result()).toEqual({ outcome: 'cancelled', cancelReason: 'phantom scan' });
    expect(lab.smtp.messages).toHaveLength(0);
  });
});
