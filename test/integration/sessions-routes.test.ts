/**
 * GET /sessions/:id, POST /sessions/:id/scans and POST/DELETE /sessions/:id/monitors/cancel through createApp
 * (supertest), on a real database and the suite's Temporal dev server with a worker running the monitors (stopped
 * for a while where a test says so).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import request from 'supertest';
import { createApp } from '../../src/app';
import { Scan } from '../../src/db/entities';
import { recordMonitorsCancelled } from '../../src/sessions/cancel';
import { startScanMonitors } from '../../src/temporal/monitors';
import { scansArrivedSignal, statusQuery } from '../../surface';
import { addScan, seedSession, uniqueSessionId } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';
import { connectDevServer, quietTemporalLogs } from '../support/temporal';

const TOKEN = 'route-test-token';
const auth = { Authorization: `Bearer ${TOKEN}` };
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let lab: MonitorHarness;
let app: ReturnType<ReturnType<typeof createApp>['callback']>;
let serial = 0;
const started: string[] = [];

beforeAll(async () => {
  quietTemporalLogs();
  temporal = await connectDevServer();
  // Long waits: the monitors stay running until a route ends them.
  lab = await startMonitorHarness(temporal, {
    env: { API_TOKEN: TOKEN, SCAN_CHECK_DELAY: '1 hour', DOWNLOAD_RETRY_INITIAL: '1 hour' },
  });
  app = createApp({ config: lab.config, orm: lab.orm, temporal: temporal.client }).callback();
});

afterAll(async () => {
  for (const workflowId of started) {
    await temporal.client.workflow
      .getHandle(workflowId)
      .terminate('test done')
      .catch(() => undefined);
  }
  await lab?.close();
  await temporal?.close();
});

async function newSession(site = 'CMH') {
  serial += 1;
  const sessionId = uniqueSessionId(site, serial);
  const { recordId } = await seedSession(lab.orm, sessionId);
  return { sessionId, recordId };
}

async function startMonitors(sessionId: string, site = 'CMH') {
  const monitors = await startScanMonitors(temporal.client, lab.config, {
    sessionId,
    studyId: 'SPN01',
    siteId: site,
    downloadScript: site === 'CMH' ? 'download.sh' : null,
  });
  started.push(monitors.scanImport.workflowId, ...(monitors.scanDownload ? [monitors.scanDownload.workflowId] : []));
  return monitors;
}

describe('auth and validation', () => {
  test('every route needs the bearer token', async () => {
    await request(app).get('/sessions/SPN01_CMH_0001_01_01').expect(401);
    await request(app).get('/sessions/SPN01_CMH_0001_01_01').set({ Authorization: 'Bearer wrong' }).expect(401);
    await request(app)
      .post('/sessions/SPN01_CMH_0001_01_01/scans')
      .send({ name: 'x', series: 1, tag: 'T1' })
      .expect(401);
    const res = await request(app).post('/sessions/SPN01_CMH_0001_01_01/monitors/cancel').send({}).expect(401);
    expect(res.body.error).toMatch(/bearer/i);
  });

  test('an unknown session is a 404 naming it; an id that fits no convention a 400', async () => {
    for (const [method, path] of [
      ['get', '/sessions/SPN01_CMH_9999_01_01'],
      ['post', '/sessions/SPN01_CMH_9999_01_01/scans'],
      ['post', '/sessions/SPN01_CMH_9999_01_01/monitors/cancel'],
    ] as const) {
      const body = path.endsWith('/scans') ? { name: 'SPN01_CMH_9999_01_01_T1', series: 1, tag: 'T1' } : {};
      const res = await request(app)[method](path).set(auth).send(body).expect(404);
      expect(res.body).toEqual({ error: 'No session SPN01_CMH_9999_01_01', sessionId: 'SPN01_CMH_9999_01_01' });
    }
    const bad = await request(app).get('/sessions/not-a-session').set(auth).expect(400);
    expect(bad.body.error).toContain('not-a-session');
  });

  test('a scan body is validated field by field', async () => {
    const { sessionId } = await newSession();
    const res = await request(app)
      .post(`/sessions/${sessionId}/scans`)
      .set(auth)
      .send({ name: '', series: 'one', extra: 1 })
      .expect(400);
    expect(res.body.error).toMatch(/name/);
    expect(res.body.error).toMatch(/series/);
    expect(res.body.error).toMatch(/tag/);
    expect(res.body.error).toMatch(/extra/);
    await request(app)
      .post(`/sessions/${sessionId}/scans`)
      .set(auth)
      .set('Content-Type', 'application/json')
      .send('{"name": ')
      .expect(400);
    await request(app)
      .post(`/sessions/${sessionId}/scans`)
      .set(auth)
      .send({ name: 'x'.repeat(200_000), series: 1, tag: 'T1' })
      .expect(413);
    const cancel = await request(app)
      .post(`/sessions/${sessionId}/monitors/cancel`)
      .set(auth)
      .send({ reason: 42 })
      .expect(400);
    expect(cancel.body.error).toMatch(/reason/);
    // A reason PostgreSQL cannot store (a NUL character; found by the hostile-input property test) is a 400 too, not a 500.
    const unstorable = await request(app)
      .post(`/sessions/${sessionId}/monitors/cancel`)
      .set(auth)
      .send({ reason: 'a\u0000b' })
      .expect(400);
    expect(unstorable.body.error).toMatch(/reason/);
    expect((await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200)).body.monitorsCancelled).toBeNull();
  });
});

test('GET shows the session, its REDCap record and no monitors before any started', async () => {
  const { sessionId, recordId } = await newSession();
  await addScan(lab.orm, sessionId, `${sessionId}_T1_01`);
  const res = await request(app).get(`/sessions/${sessionId.toLowerCase()}`).set(auth).expect(200);
  expect(res.body).toMatchObject({
    sessionId,
    study: { id: 'SPN01', name: 'Social Processes Network', code: 'SPN01' },
    site: 'CMH',
    date: '2026-11-20',
    scans: [{ name: `${sessionId}_T1_01`, series: 1, tag: 'T1', description: null }],
    redcapRecord: {
      id: recordId,
      entryDate: '2026-11-20',
      redirect: `/redcap_redirect/${recordId}`,
      url: expect.stringMatching(
        /^https:\/\/redcap\.example\.org\/redcap_v14\.5\.2\/DataEntry\/index\.php\?pid=1234&id=\d+&page=mri_scan_log$/,
      ),
    },
    monitors: [],
    jobs: [],
  });
});

test('GET shows each running monitor with its workflow id and state', async () => {
  const { sessionId } = await newSession();
  const monitors = await startMonitors(sessionId);
  await eventually(() => lab.jobRuns('download', sessionId) >= 1, 'the first download attempt');
  let body: { monitors: Array<Record<string, unknown>> } = { monitors: [] };
  await eventually(async () => {
    body = (await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200)).body;
    const download = body.monitors.find((m) => m.monitor === 'scan-download');
    return body.monitors.length === 2 && body.monitors[0].state === 'waiting' && Boolean(download?.currentAttempt);
  }, 'both monitors to show their state');
  expect(body.monitors).toEqual([
    expect.objectContaining({
      monitor: 'scan-import',
      workflowId: `scan-import:${sessionId}`,
      runId: monitors.scanImport.runId,
      status: 'RUNNING',
      state: 'waiting',
      nextCheckAt: expect.any(String),
    }),
    expect.objectContaining({
      monitor: 'scan-download',
      workflowId: `scan-download:${sessionId}`,
      status: 'RUNNING',
      state: 'downloading',
      endTime: expect.any(String),
      currentAttempt: expect.objectContaining({
        attempt: expect.any(Number),
        lastFailure: expect.stringContaining('no scans yet'),
      }),
    }),
  ]);
});

test('POST scans stores the scan and signals scansArrived: both monitors finish; the same scan again is a 200', async () => {
  const { sessionId } = await newSession();
  const monitors = await startMonitors(sessionId);
  await eventually(
    async () =>
      (await temporal.client.workflow.getHandle(monitors.scanImport.workflowId).query(statusQuery)).state === 'waiting',
    'the wait',
  );

  const scan = { name: `${sessionId}_T1_02_SagT1`, series: 2, tag: 'T1', description: 'Sag T1 BRAVO' };
  const res = await request(app).post(`/sessions/${sessionId}/scans`).set(auth).send(scan).expect(201);
  expect(res.body).toEqual({
    sessionId,
    created: true,
    scan,
    monitors: {
      signalled: [
        { monitor: 'scan-import', workflowId: `scan-import:${sessionId}` },
        { monitor: 'scan-download', workflowId: `scan-download:${sessionId}` },
      ],
      notRunning: [],
    },
  });
  expect(await temporal.client.workflow.getHandle(monitors.scanImport.workflowId).result()).toEqual({
    outcome: 'scans-present',
  });
  expect(await temporal.client.workflow.getHandle(monitors.scanDownload!.workflowId).result()).toMatchObject({
    outcome: 'downloaded',
  });
  // The signal carries nothing: the monitor read the session itself.
  const { events } = await temporal.client.workflow.getHandle(monitors.scanImport.workflowId).fetchHistory();
  const signal = events!.find(
    (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'scansArrived',
  )!.workflowExecutionSignaledEventAttributes!;
  expect(signal.input?.payloads ?? []).toEqual([]);
  expect(await lab.orm.em.fork().count(Scan, { session: sessionId })).toBe(1);

  const again = await request(app).post(`/sessions/${sessionId}/scans`).set(auth).send(scan).expect(200);
  expect(again.body).toMatchObject({
    created: false,
    monitors: { signalled: [], notRunning: [expect.anything(), expect.anything()] },
  });

  const after = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
  expect(after.body.monitors).toEqual([
    expect.objectContaining({ monitor: 'scan-import', status: 'COMPLETED', state: 'done', outcome: 'scans-present' }),
    expect.objectContaining({ monitor: 'scan-download', status: 'COMPLETED', state: 'done', outcome: 'downloaded' }),
  ]);
});

test("GET lists the session's latest jobs, a failed one with its stderr (which the attempt's failure leaves out)", async () => {
  const { sessionId } = await newSession();
  lab.failJob('download', sessionId, 'rsync: connection refused');
  try {
    await startMonitors(sessionId);
    let body: { jobs: Array<Record<string, unknown>>; monitors: Array<Record<string, unknown>> } = {
      jobs: [],
      monitors: [],
    };
    await eventually(async () => {
      body = (await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200)).body;
      const download = body.monitors.find((m) => m.monitor === 'scan-download');
      return body.jobs.length === 1 && Boolean((download?.currentAttempt as { lastFailure?: string })?.lastFailure);
    }, 'the failed job and the attempt waiting for its retry');
    expect(body.jobs).toEqual([
      {
        id: expect.any(Number),
        kind: 'download',
        status: 'failed',
        exitCode: 3,
        jobId: null,
        submittedAt: expect.any(String),
        endedAt: expect.any(String),
        detail: 'rsync: connection refused',
      },
    ]);
    const download = body.monitors.find((m) => m.monitor === 'scan-download')!;
    expect((download.currentAttempt as { lastFailure: string }).lastFailure).toBe(
      `Download job for ${sessionId} failed to submit (exit 3); its stderr is kept in job run ${String(body.jobs[0].id)} (GET /sessions/${sessionId}, "jobs")`,
    );
  } finally {
    lab.failJob('download', sessionId, undefined);
  }
});

test('POST scans: a name taken by another session, or other details for the same name, is a 409', async () => {
  const { sessionId: first } = await newSession();
  const { sessionId: second } = await newSession();
  await request(app)
    .post(`/sessions/${first}/scans`)
    .set(auth)
    .send({ name: `${first}_T1`, series: 1, tag: 'T1' })
    .expect(201);
  const other = await request(app)
    .post(`/sessions/${second}/scans`)
    .set(auth)
    .send({ name: `${first}_T1`, series: 1, tag: 'T1' })
    .expect(409);
  expect(other.body.error).toContain(first);
  await request(app)
    .post(`/sessions/${first}/scans`)
    .set(auth)
    .send({ name: `${first}_T1`, series: 3, tag: 'T2' })
    .expect(409);
});

test('POST monitors/cancel signals the running monitors; a second cancel finds none running', async () => {
  const { sessionId } = await newSession();
  const monitors = await startMonitors(sessionId);
  await eventually(
    async () =>
      (await temporal.client.workflow.getHandle(monitors.scanImport.workflowId).query(statusQuery)).state === 'waiting',
    'the wait',
  );
  const res = await request(app)
    .post(`/sessions/${sessionId}/monitors/cancel`)
    .set(auth)
    .send({ reason: 'participant withdrew' })
    .expect(200);
  expect(res.body).toEqual({
    sessionId,
    reason: 'participant withdrew',
    signalled: [
      { monitor: 'scan-import', workflowId: `scan-import:${sessionId}` },
      { monitor: 'scan-download', workflowId: `scan-download:${sessionId}` },
    ],
    notRunning: [],
  });
  // The reason a person typed stays in the database: the signal, and so the results, carry none (issue 23).
  expect(await temporal.client.workflow.getHandle(monitors.scanImport.workflowId).result()).toEqual({
    outcome: 'cancelled',
  });
  expect(await temporal.client.workflow.getHandle(monitors.scanDownload!.workflowId).result()).toEqual({
    outcome: 'cancelled',
    attempts: expect.any(Number),
  });
  // GET /sessions/:id shows it on the monitors, from the database.
  const shown = (await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200)).body;
  expect(shown.monitorsCancelled).toEqual({ reason: 'participant withdrew', at: expect.any(String) });
  expect(shown.monitors).toEqual([
    expect.objectContaining({ monitor: 'scan-import', outcome: 'cancelled', cancelReason: 'participant withdrew' }),
    expect.objectContaining({ monitor: 'scan-download', outcome: 'cancelled', cancelReason: 'participant withdrew' }),
  ]);
  const again = await request(app).post(`/sessions/${sessionId}/monitors/cancel`).set(auth).expect(200);
  expect(again.body).toMatchObject({
    signalled: [],
    notRunning: [{ monitor: 'scan-import' }, { monitor: 'scan-download' }],
  });
});

test('a session without monitors, or with a monitor no worker serves, never makes the routes fail', async () => {
  const { sessionId } = await newSession('ZHH');
  // No monitors at all.
  expect(
    (await request(app).post(`/sessions/${sessionId}/monitors/cancel`).set(auth).send({}).expect(200)).body,
  ).toMatchObject({ signalled: [] });
  expect(
    (
      await request(app)
        .post(`/sessions/${sessionId}/scans`)
        .set(auth)
        .send({ name: `${sessionId}_T1`, series: 1, tag: 'T1' })
        .expect(201)
    ).body,
  ).toMatchObject({ monitors: { signalled: [], notRunning: [expect.anything(), expect.anything()] } });

  // A monitor on a task queue nobody polls: described, its status query unanswered.
  const { sessionId: orphan } = await newSession('ZHH');
  const monitors = await startScanMonitors(
    temporal.client,
    { ...lab.config, taskQueue: 'nobody-polls-this' },
    { sessionId: orphan, studyId: 'SPN01', siteId: 'ZHH' },
  );
  started.push(monitors.scanImport.workflowId);
  const res = await request(app).get(`/sessions/${orphan}`).set(auth).expect(200);
  expect(res.body.monitors).toEqual([
    expect.objectContaining({
      monitor: 'scan-import',
      status: 'RUNNING',
      queryError: expect.stringContaining('worker'),
    }),
  ]);
}, 60_000);

test('a terminated monitor is shown as such', async () => {
  const { sessionId } = await newSession('ZHH');
  const monitors = await startScanMonitors(
    temporal.client,
    lab.config,
    { sessionId, studyId: 'SPN01', siteId: 'ZHH' },
    { recipients: [] },
  );
  started.push(monitors.scanImport.workflowId);
  await temporal.client.workflow.getHandle(monitors.scanImport.workflowId).terminate('ops stopped it');
  const res = await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200);
  expect(res.body.monitors).toEqual([expect.objectContaining({ monitor: 'scan-import', status: 'TERMINATED' })]);
});

describe('the cancel lasts: recorded on the session', () => {
  const waitingImport = (workflowId: string) =>
    eventually(
      async () => (await temporal.client.workflow.getHandle(workflowId).query(statusQuery)).state === 'waiting',
      'the wait',
    );

  test('GET shows it; monitors started later end cancelled at once, without a job or an email; the first cancel counts', async () => {
    const { sessionId } = await newSession();
    const before = Date.now();
    await request(app)
      .post(`/sessions/${sessionId}/monitors/cancel`)
      .set(auth)
      .send({ reason: 'participant withdrew' })
      .expect(200);
    await request(app)
      .post(`/sessions/${sessionId}/monitors/cancel`)
      .set(auth)
      .send({ reason: 'another reason' })
      .expect(200);
    const shown = (await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200)).body.monitorsCancelled;
    expect(shown).toEqual({ reason: 'participant withdrew', at: expect.any(String) });
    expect(Date.parse(shown.at)).toBeGreaterThanOrEqual(before - 1_000);

    // A re-saved form, a late intake: the monitors start, and end at their first check.
    const monitors = await startMonitors(sessionId);
    // That the session is cancelled, not why: the reason stays in the database (GET shows it on the monitors).
    expect(await temporal.client.workflow.getHandle(monitors.scanImport.workflowId).result()).toEqual({
      outcome: 'cancelled',
    });
    expect(await temporal.client.workflow.getHandle(monitors.scanDownload!.workflowId).result()).toEqual({
      outcome: 'cancelled',
      attempts: 0,
    });
    expect((await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200)).body.monitors).toEqual([
      expect.objectContaining({ monitor: 'scan-import', cancelReason: 'participant withdrew' }),
      expect.objectContaining({ monitor: 'scan-download', cancelReason: 'participant withdrew' }),
    ]);
    expect(lab.jobRuns('download', sessionId)).toBe(0);
    expect(lab.smtp.messages.filter((m) => m.subject.includes(sessionId))).toHaveLength(0);
  });

  test('a running monitor the cancel signal missed ends cancelled at its next check', async () => {
    const { sessionId } = await newSession();
    const monitors = await startMonitors(sessionId);
    await waitingImport(monitors.scanImport.workflowId);
    await eventually(() => lab.jobRuns('download', sessionId) >= 1, 'the first download attempt');
    // Recorded while Temporal could not be reached: no signal. The next check (here made now by scansArrived) finds it.
    await recordMonitorsCancelled(lab.orm.em.fork() as EntityManager, sessionId, 'withdrawn');
    for (const { workflowId } of [monitors.scanImport, monitors.scanDownload!])
      await temporal.client.workflow.getHandle(workflowId).signal(scansArrivedSignal);
    expect(await temporal.client.workflow.getHandle(monitors.scanImport.workflowId).result()).toEqual({
      outcome: 'cancelled',
    });
    expect(await temporal.client.workflow.getHandle(monitors.scanDownload!.workflowId).result()).toEqual({
      outcome: 'cancelled',
      attempts: expect.any(Number),
    });
    expect(lab.jobRuns('download', sessionId)).toBe(1);
  });

  test('DELETE undoes a cancel made by mistake: the cancel is cleared and the monitors run again', async () => {
    const { sessionId } = await newSession();
    const first = await startMonitors(sessionId);
    await waitingImport(first.scanImport.workflowId);
    await request(app)
      .post(`/sessions/${sessionId}/monitors/cancel`)
      .set(auth)
      .send({ reason: 'wrong session' })
      .expect(200);

    const res = await request(app).delete(`/sessions/${sessionId}/monitors/cancel`).set(auth).expect(200);
    expect(res.body).toEqual({
      sessionId,
      undone: { reason: 'wrong session', at: expect.any(String) },
      monitors: {
        scanImport: { workflowId: `scan-import:${sessionId}`, runId: expect.any(String) },
        scanDownload: { workflowId: `scan-download:${sessionId}`, runId: expect.any(String) },
      },
    });
    started.push(res.body.monitors.scanImport.workflowId, res.body.monitors.scanDownload.workflowId);
    expect(res.body.monitors.scanImport.runId).not.toBe(first.scanImport.runId);
    expect(
      await temporal.client.workflow.getHandle(first.scanImport.workflowId, first.scanImport.runId).result(),
    ).toMatchObject({ outcome: 'cancelled' });
    await waitingImport(res.body.monitors.scanImport.workflowId);
    const after = (await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200)).body;
    expect(after.monitorsCancelled).toBeNull();
    expect(after.monitors).toEqual([
      expect.objectContaining({
        monitor: 'scan-import',
        runId: res.body.monitors.scanImport.runId,
        status: 'RUNNING',
        state: 'waiting',
      }),
      expect.objectContaining({
        monitor: 'scan-download',
        runId: res.body.monitors.scanDownload.runId,
        status: 'RUNNING',
      }),
    ]);

    const again = await request(app).delete(`/sessions/${sessionId}/monitors/cancel`).set(auth).expect(409);
    expect(again.body.error).toBe(`Monitoring of ${sessionId} is not cancelled; nothing to undo`);
    await request(app).delete('/sessions/SPN01_CMH_9999_01_01/monitors/cancel').set(auth).expect(404);
    await request(app).delete(`/sessions/${sessionId}/monitors/cancel`).expect(401);
  });

  test('DELETE while the monitors have not taken their cancel (no worker up): new runs replace them and keep monitoring', async () => {
    const { sessionId } = await newSession();
    const first = await startMonitors(sessionId);
    await waitingImport(first.scanImport.workflowId);
    await eventually(() => lab.jobRuns('download', sessionId) >= 1, 'the first download attempt');
    let res: request.Response;
    await lab.stopWorker();
    try {
      // The cancel signals reach the histories; no worker runs them.
      await request(app).post(`/sessions/${sessionId}/monitors/cancel`).set(auth).send({ reason: 'oops' }).expect(200);
      res = await request(app).delete(`/sessions/${sessionId}/monitors/cancel`).set(auth).expect(200);
    } finally {
      await lab.startWorker();
    }
    started.push(res.body.monitors.scanImport.workflowId, res.body.monitors.scanDownload.workflowId);
    expect(res.body.monitors.scanImport.runId).not.toBe(first.scanImport.runId);
    expect(res.body.monitors.scanDownload.runId).not.toBe(first.scanDownload!.runId);
    for (const { workflowId, runId } of [first.scanImport, first.scanDownload!])
      expect((await temporal.client.workflow.getHandle(workflowId, runId).describe()).status.name).toBe('TERMINATED');

    // Once a worker is back, the session is monitored: the new runs run (the cancel signals stayed with the old).
    await waitingImport(res.body.monitors.scanImport.workflowId);
    const after = (await request(app).get(`/sessions/${sessionId}`).set(auth).expect(200)).body;
    expect(after.monitorsCancelled).toBeNull();
    expect(after.monitors).toEqual([
      expect.objectContaining({ runId: res.body.monitors.scanImport.runId, status: 'RUNNING', state: 'waiting' }),
      expect.objectContaining({ runId: res.body.monitors.scanDownload.runId, status: 'RUNNING', state: 'downloading' }),
    ]);
  }, 120_000);

  test('the checked-in migrations create the session columns and the job ledger the entities describe', async () => {
    const diff = await lab.orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(diff).not.toMatch(/monitors_cancel|job_run/);
  });
});
