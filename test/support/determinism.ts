/**
 * What a deploy test looks for in a workflow's history: workflow tasks that failed (a nondeterminism error
 * after new code replays an old history shows up as WorkflowTaskFailed, retried for ever, the workflow stuck),
 * and which worker builds ran its workflow tasks (the default build id is a hash of the workflow bundle, so a
 * history names the code that ran each step). Plus replay of recorded histories with errors that name them.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';

type History = temporal.api.history.v1.IHistory;
const { EventType, WorkflowTaskFailedCause } = temporal.api.enums.v1;

export interface WorkflowTaskFailure {
  eventId: string;
  /** e.g. WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR */
  cause: string;
  message: string;
}

export function workflowTaskFailures(history: History): WorkflowTaskFailure[] {
  return (history.events ?? [])
    .filter((event) => event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    .map((event) => {
      const attributes = event.workflowTaskFailedEventAttributes;
      return {
        eventId: String(event.eventId),
        cause: WorkflowTaskFailedCause[attributes?.cause ?? 0] ?? String(attributes?.cause),
        message: attributes?.failure?.message ?? '',
      };
    });
}

/** True for a failure that says the code did not replay its history (the SDK's DeterminismViolationError). */
export function isNondeterminism(failure: WorkflowTaskFailure): boolean {
  return failure.cause === 'WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR' || /nondetermin/i.test(failure.message);
}

/**
 * The build ids that completed the history's workflow tasks, in order of first appearance (the dev server
 * records them; the time-skipping server does not).
 */
export function workflowTaskBuildIds(history: History): string[] {
  const ids: string[] = [];
  for (const event of history.events ?? []) {
    const buildId = event.workflowTaskCompletedEventAttributes?.workerVersion?.buildId;
    if (buildId && !ids.includes(buildId)) ids.push(buildId);
  }
  return ids;
}

/** The identities of the workers that completed the history's workflow tasks, in order of first appearance. */
export function workflowTaskWorkers(history: History): string[] {
  const ids: string[] = [];
  for (const event of history.events ?? []) {
    const identity = event.workflowTaskCompletedEventAttributes?.identity;
    if (identity && !ids.includes(identity)) ids.push(identity);
  }
  return ids;
}

export function describeFailures(workflowId: string, failures: WorkflowTaskFailure[]): string {
  const lines = failures.map(
    (f) => `${workflowId}: workflow task failed (event ${f.eventId}, ${f.cause}): ${f.message}`,
  );
  if (failures.some(isNondeterminism)) {
    lines.push(
      "The new workflow code does not replay this workflow's history: guard the change with patched('<change-id>').",
    );
  }
  return lines.join('\n');
}

/**
 * The workflow's result; but as soon as a workflow task of it fails (the new code could not replay its history,
 * or threw), an error naming the workflow and the failure, instead of waiting for a result that never comes.
 */
export async function resultUnlessTaskFails<T = unknown>(handle: WorkflowHandle, pollMs = 1_000): Promise<T> {
  let settled = false;
  const abort = new AbortController();
  const watch = new Promise<never>((_resolve, reject) => {
    const poll = async () => {
      if (settled) return;
      try {
        const failures = workflowTaskFailures(await handle.fetchHistory());
        if (failures.length > 0) {
          reject(new Error(describeFailures(handle.workflowId, failures)));
          return;
        }
      } catch {
        // The history could not be read just now; the result (or the next poll) decides.
      }
      if (!settled) setTimeout(() => void poll(), pollMs);
    };
    void poll();
  });
  // The long poll for the result is aborted once the watch has failed: nothing waits on it after the test.
  const result = handle.client.withAbortSignal(abort.signal, () => handle.result());
  result.catch(() => undefined);
  watch.catch(() => undefined); // settled first by the result: nobody listens any more
  try {
    return (await Promise.race([result, watch])) as T;
  } finally {
    settled = true;
    abort.abort();
  }
}

/** The error's name and the core's own message (e.g. `[TMPRL1100] Nondeterminism error: …`) without the wrapping. */
function describeReplayError(error: Error): string {
  const core = /message: "((?:[^"\\]|\\.)*)"/.exec(error.message)?.[1];
  return `${error.name}: ${core ?? error.message}`;
}

export interface ReplayOutcome {
  name: string;
  /** Undefined when the history replayed; else the error's name and message. */
  error?: string;
}

/** Replays each history against the workflow code of `options` (workflowsPath or workflowBundle); one outcome each. */
export async function replayHistories(
  options: ReplayWorkerOptions,
  histories: Array<{ name: string; history: History }>,
): Promise<ReplayOutcome[]> {
  const outcomes: ReplayOutcome[] = [];
  const replayed = Worker.runReplayHistories(
    options,
    histories.map(({ name, history }) => ({ workflowId: name, history })),
  );
  for await (const result of replayed) {
    outcomes.push({ name: result.workflowId, ...(result.error ? { error: describeReplayError(result.error) } : {}) });
  }
  return outcomes;
}
