/**
 * Issue 11, "deploys never break a running monitor": a deploy of changed workflow code with 50 monitors mid-wait.
 * The worker (`npm run worker`) runs the frozen bundle of the release labs run (WORKFLOW_BUNDLE_PATH,
 * test/fixtures/releases/<CURRENT_RELEASE>); 50 sessions are logged through the API; once every monitor waits,
 * the worker gets SIGTERM, 25 sessions get their scans registered while no worker runs, and a worker on this
 * checkout's workflows/ starts. All 50 finish: 25 scans-present, 25 with one email each; no workflow task failed
 * and no nondeterminism error in any history or in the workers' logs; every monitor ran on both builds.
 *
 * Every monitor must still be waiting when the old worker stops, however busy the machine: sessions 1..25 (scans
 * later) wait an hour; their intakes are timed, and sessions 26..50 (emailed) are logged by the old worker
 * restarted with a SCAN_CHECK_DELAY of three times that (40 s to 5 min), plus the time Temporal takes to deliver
 * again a task lost on its way to the worker. So load stretches the test, never fails it.
 */
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { isNondeterminism, workflowTaskBuildIds, workflowTaskFailures } from '../support/determinism';
import { CURRENT_RELEASE, writeReleaseBundle } from '../support/releases';
import { FaultLab } from './fault-lab';

jest.setTimeout(900_000); // on a busy machine the waits stretch (emailedDelay adapts to it)

const { EventType } = temporal.api.enums.v1;

const SESSIONS = 50;
/** SCAN_CHECK_DELAY of the sessions that get scans after the deploy: never runs out during the test. */
const SCANNED_DELAY = '1 hour';
const SCANNED = 25; // sessions 1..25 get scans after the deploy; 26..50 are emailed about
/**
 * A task the server handed out that never reached the worker is delivered again when its attempt times out: for
 * the intake's fileRedcapRecord and startMonitors after a minute (workflows/intake.ts), and the monitor then starts
 * that much later. Seen in CI, and with every core kept busy: the first attempt of an intake's startMonitors never
 * began in the worker, and the second began 62 s after the activity was scheduled.
 */
const LOST_TASK_REDELIVERY_S = 65;
let lab: FaultLab | undefined;

afterAll(async () => {
  await lab?.close();
});

/** The monitor's timer (SCAN_CHECK_DELAY) is running: started, neither fired nor cancelled. */
function isMidWait(history: temporal.api.history.v1.IHistory): boolean {
  const types = (history.events ?? []).map((e) => e.eventType);
  return (
    types.includes(EventType.EVENT_TYPE_TIMER_STARTED) &&
    !types.includes(EventType.EVENT_TYPE_TIMER_FIRED) &&
    !types.includes(EventType.EVENT_TYPE_TIMER_CANCELED)
  );
}

/** Collects into `lines` the log lines of a worker process that mention nondeterminism, from now on. */
function nondeterminismLines(worker: NonNullable<FaultLab['worker']>, lines: string[]): string[] {
  let partial = '';
  const scan = (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const split = text.split('\n');
    partial = split.pop() ?? '';
    lines.push(...split.filter((line) => /nondetermin/i.test(line)));
  };
  worker.child.stdout?.on('data', scan);
  worker.child.stderr?.on('data', scan);
  return lines;
}

test(`deploy of new workflow code under ${SESSIONS} monitors mid-wait (started on release ${CURRENT_RELEASE})`, async () => {
  const started = Date.now();
  const phase: Record<string, number> = {};
  const mark = (name: string) => (phase[name] = Math.round((Date.now() - started) / 100) / 10);

  lab = await FaultLab.start({ scanCheckDelay: SCANNED_DELAY });
  const l = lab;
  const bundle = await writeReleaseBundle(CURRENT_RELEASE, path.join(l.workDir, `workflows-${CURRENT_RELEASE}.js`));
  await l.startApi();
  const oldLines: string[] = [];
  const startOldWorker = async (env: Record<string, string> = {}) => {
    await l.startWorker({ WORKFLOW_BUNDLE_PATH: bundle, ...env });
    expect(l.worker!.output()).toContain(`prebuilt bundle ${bundle}`);
    nondeterminismLines(l.worker!, oldLines);
  };
  await startOldWorker();
  mark('servicesUp');

  const monitor = (n: number) => l.client.workflow.getHandle(`scan-import:${FaultLab.sessionId(n)}`);
  const monitors: WorkflowHandle[] = Array.from({ length: SESSIONS }, (_, i) => monitor(i + 1));
  // Read from the histories, not with the status query: 50 queries a poll would load the worker doing the intakes.
  const midWait = async (handles: WorkflowHandle[]) =>
    (await Promise.all(handles.map((h) => h.fetchHistory().then(isMidWait, () => false)))).filter(Boolean).length;
  const intakeIds: string[] = [];
  /** Logs sessions from..to through the API at once, and waits until their intakes completed and their monitors wait. */
  const logSessions = async (from: number, to: number, delay: string) => {
    const sent = await Promise.all(Array.from({ length: to - from + 1 }, (_, i) => l.logScan(from + i)));
    for (const { status, body } of sent) {
      expect(status).toBe(202);
      intakeIds.push(body.workflowId!);
    }
    const handles = monitors.slice(from - 1, to);
    await l.waitFor(
      async () => (await l.workflows('RedcapIntakeWorkflow', 'Completed')) === to,
      `intakes 1..${to} to complete`,
      300_000,
    );
    await l.waitFor(
      async () => (await midWait(handles)) === handles.length,
      `monitors ${from}..${to} to wait (before their ${delay} runs out)`,
      300_000,
    );
  };

  // Sessions 1..25 (their scans come after the deploy): a long wait, and a measure of how long intakes take now.
  const batchStarted = Date.now();
  await logSessions(1, SCANNED, SCANNED_DELAY);
  const batchSeconds = (Date.now() - batchStarted) / 1000;
  mark('scannedWaiting');
  // Sessions 26..50 are emailed about, after a wait that outlasts their own intakes on this machine, busy or not,
  // and one activity task lost on its way to the worker: Temporal delivers it again only when the attempt times out.
  const emailedDelay = `${Math.ceil(Math.min(300, Math.max(40, 3 * batchSeconds)) + LOST_TASK_REDELIVERY_S)}s`;
  await l.worker!.stop('SIGTERM');
  await startOldWorker({ SCAN_CHECK_DELAY: emailedDelay });
  await logSessions(SCANNED + 1, SESSIONS, emailedDelay);
  mark('allWaiting');
  const oldWorker = l.worker!;

  // --- the deploy ---------------------------------------------------------------------------------------------
  await oldWorker.stop('SIGTERM');
  l.worker = undefined;
  mark('oldWorkerStopped');
  const waitingAtDeploy = await midWait(monitors);
  for (let n = 1; n <= SCANNED; n++) {
    const response = await fetch(`${l.apiUrl}/sessions/${FaultLab.sessionId(n)}/scans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${l.env.API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `${FaultLab.sessionId(n)}_T1_01`, series: 1, tag: 'T1' }),
    });
    expect(response.status).toBeLessThan(300);
  }
  await l.startWorker();
  const newWorker = l.worker!;
  const newLines = nondeterminismLines(newWorker, []);
  // Today's workflows/: bundled by the worker, or once for the whole test run (test/global-setup.ts).
  expect(newWorker.output()).toContain(
    process.env.WORKFLOW_BUNDLE_PATH ? `prebuilt bundle ${process.env.WORKFLOW_BUNDLE_PATH}` : 'bundled at start from',
  );
  mark('newWorkerUp');

  let completed = 0;
  await l
    .waitFor(
      async () => {
        if (newLines.length > 0)
          throw new Error(`nondeterminism after the deploy:\n${newLines.slice(0, 5).join('\n')}`);
        completed = await l.workflows('ScanImportWorkflow', 'Completed');
        return completed === SESSIONS;
      },
      `all ${SESSIONS} monitors to complete on the new code (${SCANNED} at once, the others ${emailedDelay} after their start)`,
      // The last waits end emailedDelay after their start, which on a busy machine is after the deploy: wait past that.
      (parseInt(emailedDelay, 10) + 240) * 1000,
    )
    .catch((err: Error) => {
      throw new Error(`${err.message}\ncompleted: ${completed}; seconds so far: ${JSON.stringify(phase)}`);
    });
  mark('allCompleted');
  await new Promise((resolve) => setTimeout(resolve, 3_000)); // a second email would come now, if at all

  // --- what came of it ----------------------------------------------------------------------------------------
  const outcomes: Record<string, number> = {};
  for (const h of monitors) {
    const { outcome } = (await h.result()) as { outcome: string };
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  const intakes = intakeIds.map((id) => l.client.workflow.getHandle(id));
  let workflowTaskFailed = 0;
  let nondeterminismInHistories = 0;
  let ranOnBothBuilds = 0;
  const oldBuild = workflowTaskBuildIds(await intakes[0].fetchHistory())[0];
  for (const h of [...monitors, ...intakes]) {
    const history = await h.fetchHistory();
    const failures = workflowTaskFailures(history);
    workflowTaskFailed += failures.length;
    nondeterminismInHistories += failures.filter(isNondeterminism).length;
    const builds = workflowTaskBuildIds(history);
    if (monitors.includes(h) && builds.length === 2 && builds[0] === oldBuild) ranOnBothBuilds += 1;
  }
  const emails = l.emailsPerSession(SESSIONS);
  const counts = {
    monitors: SESSIONS,
    waitingAtDeploy,
    outcomes,
    emailsToScanned: emails.slice(0, SCANNED).reduce((a, b) => a + b, 0),
    emailsToUnscanned: emails.slice(SCANNED).reduce((a, b) => a + b, 0),
    totalEmails: l.mail().length,
    workflowTaskFailed,
    nondeterminismErrors: nondeterminismInHistories + oldLines.length + newLines.length,
    ranOnBothBuilds,
    emailedDelay,
    seconds: phase,
  };
  console.log(
    `fault: deploy of new workflow code under ${SESSIONS} monitors mid-wait (release ${CURRENT_RELEASE} -> this checkout): ${JSON.stringify(counts)}`,
  );
  expect(counts).toMatchObject({
    waitingAtDeploy: SESSIONS,
    outcomes: { 'scans-present': SCANNED, 'email-sent': SESSIONS - SCANNED },
    emailsToScanned: 0,
    emailsToUnscanned: SESSIONS - SCANNED,
    totalEmails: SESSIONS - SCANNED,
    workflowTaskFailed: 0,
    nondeterminismErrors: 0,
    ranOnBothBuilds: SESSIONS,
  });
  expect(emails.slice(SCANNED)).toEqual(Array(SESSIONS - SCANNED).fill(1));
});
