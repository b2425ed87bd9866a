/**
 * Reading and signalling one session's monitors, by their business ids. A monitor that never started or has
 * finished is reported as such, never an error; Temporal not answering is an UnavailableError (503).
 */
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { isGrpcServiceError } from '@temporalio/client';
import { statusQuery, type MonitorStatus } from '../../workflows/definitions';
import { UnavailableError } from '../errors';
import { scanDownloadWorkflowId, scanImportWorkflowId } from './workflow-ids';

export type MonitorName = 'scan-import' | 'scan-download';

/** How long a read or signal of one monitor may take before we say Temporal is not answering. */
const TEMPORAL_TIMEOUT_MS = 5_000;

function sessionMonitorIds(sessionId: string): Array<{ monitor: MonitorName; workflowId: string }> {
  return [
    { monitor: 'scan-import', workflowId: scanImportWorkflowId(sessionId) },
    { monitor: 'scan-download', workflowId: scanDownloadWorkflowId(sessionId) },
  ];
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

const isUnavailable = (err: unknown) => isGrpcServiceError(err) || (err instanceof Error && /deadline|unavailable|connect/i.test(err.message));

/** Temporal not answering is a 503 (the gist only: the raw message stays out of the answer); anything else is a bug. */
function unavailable(err: unknown, what: string): never {
  if (!isUnavailable(err)) throw err;
  throw new UnavailableError(`Temporal did not answer while ${what}; try again when it is back`, { unavailable: 'temporal' });
}

function iso(value: unknown): string | undefined {
  if (!value) return undefined;
  const { seconds, nanos } = value as { seconds?: number | { toNumber(): number } | null; nanos?: number | null };
  const secs = typeof seconds === 'number' ? seconds : seconds?.toNumber();
  return secs === undefined ? undefined : new Date(secs * 1000 + Math.floor((nanos ?? 0) / 1e6)).toISOString();
}

/** Each monitor that exists for the session, with its state (status query while running, result once closed). */
export async function describeSessionMonitors(client: Client, sessionId: string): Promise<MonitorView[]> {
  const views: MonitorView[] = [];
  for (const { monitor, workflowId } of sessionMonitorIds(sessionId)) {
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
        Object.assign(view, await client.withDeadline(Date.now() + TEMPORAL_TIMEOUT_MS, () => exact.query(statusQuery)));
      } catch (err) {
        view.queryError = `The status query got no answer (${err instanceof Error ? err.message : String(err)}); is a worker running?`;
      }
      const pending = description.raw.pendingActivities?.find((activity) => activity.activityType?.name === 'downloadScans');
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
        const result = (await client.withDeadline(Date.now() + TEMPORAL_TIMEOUT_MS, () => exact.result())) as Partial<MonitorStatus>;
        Object.assign(view, { state: 'done' }, result);
      } catch (err) {
        if (err instanceof WorkflowFailedError) view.failure = (err.cause?.cause as Error | undefined)?.message ?? err.cause?.message ?? err.message;
        else if (isUnavailable(err)) unavailable(err, `reading the result of ${workflowId}`);
        else throw err;
      }
    }
    views.push(view);
  }
  return views;
}

export interface SignalReport {
  /** Monitors that were running and got the signal. */
  signalled: Array<{ monitor: MonitorName; workflowId: string }>;
  /** Monitors that never started or have finished: nothing to signal. */
  notRunning: Array<{ monitor: MonitorName; workflowId: string }>;
}

/** Sends a signal to each running monitor of the session. */
export async function signalSessionMonitors(
  client: Client,
  sessionId: string,
  send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<void>,
): Promise<SignalReport> {
  const report: SignalReport = { signalled: [], notRunning: [] };
  for (const target of sessionMonitorIds(sessionId)) {
    try {
      await client.withDeadline(Date.now() + TEMPORAL_TIMEOUT_MS, () => send(client.workflow.getHandle(target.workflowId)));
      report.signalled.push(target);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) report.notRunning.push(target);
      else unavailable(err, `signalling ${target.workflowId}`);
    }
  }
  return report;
}
