/**
 * A session's monitors on Temporal (docs/temporal.md): starting them (business ids, USE_EXISTING so a second
 * start joins the running monitor, TERMINATE_EXISTING for the undo of a cancel, typed search attributes and a
 * memo so ops find the session in the Web UI), reading their state, and signalling them. A monitor that never
 * started or has finished is reported as such, never an error; Temporal not answering is an UnavailableError (503).
 */
import {
  isGrpcServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { optionalTsToDate } from '@temporalio/common';
import {
  cancelSignal,
  REDCAP_RECORD_MONITOR,
  recordFiledSignal,
  redcapRecordWorkflowId,
  SCAN_DOWNLOAD_WORKFLOW,
  SCAN_IMPORT_WORKFLOW,
  scanDownloadWorkflowId,
  scanImportWorkflowId,
  SessionIdAttribute,
  SiteIdAttribute,
  statusQuery,
  StudyIdAttribute,
  type CancelRequest,
  type MonitoredSession,
  type MonitorStatus,
  type MonitorTarget,
  type RedcapRecordInput,
  type ScanDownloadInput,
  type ScanImportInput,
  type StartedMonitors,
} from '../../surface';
import type { RedcapRecordMonitor } from '../../workflows/redcap-record';
import type { ScanDownloadWorkflow } from '../../workflows/scan-download';
import type { ScanImportWorkflow } from '../../workflows/scan-import';
import type { Config } from '../config';
import { UnavailableError, unavailableService } from '../errors';
import { describeDuration } from '../mail/templates';

/** Extra, optional knobs: explicit email recipients and an explicit end time of the download monitor. */
export interface MonitorOptions {
  recipients?: string[];
  /** ISO time; default: start + DOWNLOAD_WINDOW. */
  downloadEndTime?: string;
  /**
   * For a start that may already have happened (a retried activity whose worker died): a monitor whose latest run
   * started at or after this time (ms) is kept as it is, running or finished, not started again.
   */
  keepStartedSince?: number;
  /**
   * For the undo of a cancel: a run still running (one that has not yet taken its cancel signal, e.g. no worker is
   * up) is terminated and replaced by a new run, instead of joined (it would end `cancelled`).
   */
  replaceRunning?: boolean;
}

/** The latest run of `workflowId` when it started at or after `since`; undefined when it started before, or never. */
async function runStartedSince(
  client: Client,
  workflowId: string,
  since: number,
): Promise<{ workflowId: string; runId: string } | undefined> {
  try {
    const latest = await client.workflow.getHandle(workflowId).describe();
    return latest.startTime.getTime() >= since ? { workflowId, runId: latest.runId } : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * What every monitor start has: its queue and id (joining a running one, or replacing it), and what ops see in the
 * Web UI.
 */
function startOptions(
  config: Config,
  target: MonitoredSession,
  monitor: MonitorName,
  workflowId: string,
  replaceRunning = false,
) {
  return {
    taskQueue: config.taskQueue,
    workflowId,
    workflowIdConflictPolicy: replaceRunning ? ('TERMINATE_EXISTING' as const) : ('USE_EXISTING' as const),
    typedSearchAttributes: [
      { key: SessionIdAttribute, value: target.sessionId },
      { key: StudyIdAttribute, value: target.studyId },
      { key: SiteIdAttribute, value: target.siteId },
    ],
    memo: { sessionId: target.sessionId, studyId: target.studyId, siteId: target.siteId, monitor },
  };
}

/** The Web UI's details of a monitor: what it does, then its signals and query. */
const details = (lines: string[], signals = '`scansArrived` (check now)') =>
  [...lines, '', `Signals: ${signals}, \`cancel\` \`{"reason": "…"}\`. Query: \`status\`.`].join('\n');

/** How a session's ScanImportWorkflow is started (and the fleet bench's same-shape no-op: bench/noop-workflow.ts). */
export function scanImportStartOptions(
  config: Config,
  target: MonitoredSession,
  options: Pick<MonitorOptions, 'recipients' | 'replaceRunning'> = {},
) {
  const workflowId = scanImportWorkflowId(target.sessionId);
  const { scanCheckDelayMs } = config.durations;
  const input: ScanImportInput = {
    sessionId: target.sessionId,
    studyId: target.studyId,
    siteId: target.siteId,
    checkDelayMs: scanCheckDelayMs,
    ...(options.recipients ? { recipients: options.recipients } : {}),
  };
  return {
    ...startOptions(config, target, 'scan-import', workflowId, options.replaceRunning),
    args: [input] as [ScanImportInput],
    staticSummary: `Scan import check of ${target.sessionId} (${target.studyId} at ${target.siteId})`,
    staticDetails: details([
      `Checks whether scan data for \`${target.sessionId}\` arrived, then again after **${describeDuration(scanCheckDelayMs)}**;`,
      'if not, emails the admins once.',
    ]),
  };
}

export async function startScanMonitors(
  client: Client,
  config: Config,
  target: MonitorTarget,
  options: MonitorOptions = {},
): Promise<StartedMonitors> {
  const session = { sessionId: target.sessionId, studyId: target.studyId, siteId: target.siteId };
  const { downloadWindowMs, downloadRetryInitialMs, downloadRetryMaxMs } = config.durations;
  /** Starts one monitor, or joins the running one; a run started since `keepStartedSince` is kept instead. */
  const keptOrStarted = async (workflowId: string, start: () => Promise<{ firstExecutionRunId: string }>) => {
    const since = options.keepStartedSince;
    const kept = since === undefined ? undefined : await runStartedSince(client, workflowId, since);
    return kept ?? { workflowId, runId: (await start()).firstExecutionRunId };
  };

  const importStart = scanImportStartOptions(config, target, options);
  const started: StartedMonitors = {
    scanImport: await keptOrStarted(importStart.workflowId, () =>
      client.workflow.start<typeof ScanImportWorkflow>(SCAN_IMPORT_WORKFLOW, importStart),
    ),
  };

  if (target.downloadScript) {
    const downloadId = scanDownloadWorkflowId(target.sessionId);
    const downloadInput: ScanDownloadInput = {
      ...session,
      downloadWindowMs,
      retryInitialMs: downloadRetryInitialMs,
      retryMaxMs: downloadRetryMaxMs,
      ...(options.downloadEndTime ? { endTime: options.downloadEndTime } : {}),
    };
    started.scanDownload = await keptOrStarted(downloadId, () =>
      client.workflow.start<typeof ScanDownloadWorkflow>(SCAN_DOWNLOAD_WORKFLOW, {
        ...startOptions(config, target, 'scan-download', downloadId, options.replaceRunning),
        args: [downloadInput],
        staticSummary: `Scan download of ${target.sessionId} with ${target.downloadScript}`,
        staticDetails: details([
          `Submits \`${target.downloadScript} ${target.studyId} ${target.sessionId}\` until the session has scans,`,
          `retrying with backoff (${describeDuration(downloadRetryInitialMs)} up to ${describeDuration(downloadRetryMaxMs)})`,
          `for ${options.downloadEndTime ? `until ${options.downloadEndTime}` : describeDuration(downloadWindowMs)}; then the post-download job.`,
        ]),
      }),
    );
  }
  // The session has its REDCap record now: a RedcapRecordMonitor waiting for it ends.
  await signalRecordFiled(client, target.sessionId);
  return started;
}

/** Tells the session's RedcapRecordMonitor, if one runs, to check now (its REDCap record was filed, or none is expected). */
export async function signalRecordFiled(client: Client, sessionId: string): Promise<void> {
  try {
    await client.workflow.getHandle(redcapRecordWorkflowId(sessionId)).signal(recordFiledSignal);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

/**
 * Starts the RedcapRecordMonitor of a session found in XNAT without a REDCap record (REDCAP_RECORD_DELAY), or joins
 * the running one. It runs once per session: one that has finished is not started again (`started: false`).
 */
export async function startRedcapRecordMonitor(
  client: Client,
  config: Config,
  session: MonitoredSession,
): Promise<{ workflowId: string; started: boolean }> {
  const workflowId = redcapRecordWorkflowId(session.sessionId);
  const delayMs = config.durations.redcapRecordDelayMs;
  const input: RedcapRecordInput = { ...session, delayMs };
  const start = client.workflow.start<typeof RedcapRecordMonitor>(REDCAP_RECORD_MONITOR, {
    ...startOptions(config, session, 'redcap-record', workflowId),
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    args: [input],
    staticSummary: `REDCap record check of ${session.sessionId} (${session.studyId} at ${session.siteId}), found in XNAT`,
    staticDetails: details(
      [
        `XNAT has \`${session.sessionId}\` and REDCap has no record for it: waits **${describeDuration(delayMs)}**`,
        'for one, then emails the admins once (unless the record was filed or none is expected).',
      ],
      '`recordFiled` (check now)',
    ),
  });
  try {
    await start;
    return { workflowId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, started: false };
    throw err;
  }
}

// --- Reading and signalling a session's monitors ------------------------------------------------------------

/** The monitors that watch for scans (what `scansArrived` is for). */
export type ScanMonitorName = 'scan-import' | 'scan-download';
export type MonitorName = ScanMonitorName | 'redcap-record';

export const SCAN_MONITORS: ScanMonitorName[] = ['scan-import', 'scan-download'];
/** Every monitor a session may have. */
const ALL_MONITORS: MonitorName[] = [...SCAN_MONITORS, 'redcap-record'];

/** The activities whose attempts a monitor retries on its backoff: the next attempt is its next check. */
const BACKOFF_ACTIVITIES = new Set(['downloadScans', 'waitForXnatArchive']);

/** How long a read or signal of one monitor may take before we say Temporal is not answering. */
const TEMPORAL_TIMEOUT_MS = 5_000;

const MONITOR_IDS: Record<MonitorName, (sessionId: string) => string> = {
  'scan-import': scanImportWorkflowId,
  'scan-download': scanDownloadWorkflowId,
  'redcap-record': redcapRecordWorkflowId,
};

function sessionMonitorIds<M extends MonitorName>(
  sessionId: string,
  monitors: M[],
): Array<{ monitor: M; workflowId: string }> {
  return monitors.map((monitor) => ({ monitor, workflowId: MONITOR_IDS[monitor](sessionId) }));
}

export interface MonitorView extends Partial<MonitorStatus> {
  monitor: MonitorName;
  workflowId: string;
  runId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, … */
  status: string;
  startTime: string;
  closeTime?: string;
  /** Why a finished monitor failed. */
  failure?: string;
  /** A running download attempt, as Temporal sees it (attempt number, next attempt, last failure). */
  currentAttempt?: { attempt: number; nextAttemptAt?: string; lastFailure?: string };
  /** Set when the status query got no answer (e.g. no worker is running). */
  queryError?: string;
}

const isUnavailable = (err: unknown) =>
  unavailableService(err) === 'temporal' ||
  isGrpcServiceError(err) ||
  (err instanceof Error && /deadline|unavailable|connect/i.test(err.message));

/** Temporal not answering is a 503 (the gist only: the raw message stays out of the answer); anything else is a bug. */
function unavailable(err: unknown, what: string): never {
  if (!isUnavailable(err)) throw err;
  throw new UnavailableError(`Temporal did not answer while ${what}; try again when it is back`, {
    unavailable: 'temporal',
  });
}

/** A protobuf timestamp as ISO text. */
const iso = (value: Parameters<typeof optionalTsToDate>[0]): string | undefined =>
  optionalTsToDate(value)?.toISOString();

/** Each monitor that exists for the session, with its state (status query while running, result once closed). */
export async function describeSessionMonitors(client: Client, sessionId: string): Promise<MonitorView[]> {
  const views: MonitorView[] = [];
  for (const { monitor, workflowId } of sessionMonitorIds(sessionId, ALL_MONITORS)) {
    const handle = client.workflow.getHandle(workflowId);
    let description;
    try {
      description = await client.withDeadline(Date.now() + TEMPORAL_TIMEOUT_MS, () => handle.describe());
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) continue;
      unavailable(err, `describing ${workflowId}`);
    }
    const view: MonitorView = {
      monitor,
      workflowId,
      runId: description.runId,
      status: description.status.name,
      startTime: description.startTime.toISOString(),
      ...(description.closeTime ? { closeTime: description.closeTime.toISOString() } : {}),
    };
    const exact = client.workflow.getHandle(workflowId, description.runId);
    if (description.status.name === 'RUNNING') {
      try {
        Object.assign(
          view,
          await client.withDeadline(Date.now() + TEMPORAL_TIMEOUT_MS, () => exact.query(statusQuery)),
        );
      } catch (err) {
        view.queryError = `The status query got no answer (${err instanceof Error ? err.message : String(err)}); is a worker running?`;
      }
      const pending = description.raw.pendingActivities?.find((activity) =>
        BACKOFF_ACTIVITIES.has(activity.activityType?.name ?? ''),
      );
      if (pending) {
        view.currentAttempt = {
          attempt: pending.attempt ?? 1,
          ...(iso(pending.nextAttemptScheduleTime) ? { nextAttemptAt: iso(pending.nextAttemptScheduleTime) } : {}),
          ...(pending.lastFailure?.message ? { lastFailure: pending.lastFailure.message } : {}),
        };
        if (view.currentAttempt.nextAttemptAt) view.nextCheckAt = view.currentAttempt.nextAttemptAt;
      }
    } else if (description.status.name === 'COMPLETED' || description.status.name === 'FAILED') {
      // The result (or failure) is read from the history: no worker needed.
      try {
        const result = (await client.withDeadline(Date.now() + TEMPORAL_TIMEOUT_MS, () =>
          exact.result(),
        )) as Partial<MonitorStatus>;
        Object.assign(view, { state: 'done' }, result);
      } catch (err) {
        if (err instanceof WorkflowFailedError)
          view.failure = (err.cause?.cause as Error | undefined)?.message ?? err.cause?.message ?? err.message;
        else if (isUnavailable(err)) unavailable(err, `reading the result of ${workflowId}`);
        else throw err;
      }
    }
    views.push(view);
  }
  return views;
}

export interface SignalReport<M extends MonitorName = ScanMonitorName> {
  /** Monitors that were running and got the signal. */
  signalled: Array<{ monitor: M; workflowId: string }>;
  /** Monitors that never started or have finished: nothing to signal. */
  notRunning: Array<{ monitor: M; workflowId: string }>;
}

/** Sends a signal to each running monitor of the session (of the scan monitors, unless told which). */
export async function signalSessionMonitors<M extends MonitorName = ScanMonitorName>(
  client: Client,
  sessionId: string,
  send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<void>,
  monitors: M[] = SCAN_MONITORS as M[],
): Promise<SignalReport<M>> {
  const report: SignalReport<M> = { signalled: [], notRunning: [] };
  for (const target of sessionMonitorIds(sessionId, monitors)) {
    try {
      await client.withDeadline(Date.now() + TEMPORAL_TIMEOUT_MS, () =>
        send(client.workflow.getHandle(target.workflowId)),
      );
      report.signalled.push(target);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) report.notRunning.push(target);
      else unavailable(err, `signalling ${target.workflowId}`);
    }
  }
  return report;
}

/**
 * Sends `cancel` to the session's running monitors: the scan monitors (each reported, running or not) and its
 * RedcapRecordMonitor, reported only when it runs (most sessions never have one).
 */
export async function cancelRunningMonitors(
  client: Client,
  sessionId: string,
  request: CancelRequest,
): Promise<SignalReport<MonitorName>> {
  const send = (handle: ReturnType<Client['workflow']['getHandle']>) => handle.signal(cancelSignal, request);
  const report: SignalReport<MonitorName> = await signalSessionMonitors(client, sessionId, send);
  const reverse = await signalSessionMonitors(client, sessionId, send, ['redcap-record']);
  report.signalled.push(...reverse.signalled);
  return report;
}

/**
 * Waits (up to `ms`) for the session's running monitors to close, e.g. after a cancel, so that they end as
 * `cancelled`; a monitor still running then is left alone (the undo replaces it). Temporal not answering is an
 * UnavailableError.
 */
export async function awaitSessionMonitorsClosed(client: Client, sessionId: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (const { workflowId } of sessionMonitorIds(sessionId, ALL_MONITORS)) {
    try {
      await client.withDeadline(deadline, () => client.workflow.getHandle(workflowId).result());
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || err instanceof WorkflowFailedError) continue;
      if (Date.now() >= deadline) return;
      unavailable(err, `waiting for ${workflowId} to end`);
    }
  }
}
