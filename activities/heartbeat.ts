/**
 * Heartbeats while a long call is in flight, so that a worker that dies mid-call is noticed after the
 * activity's heartbeatTimeout (seconds) rather than its startToCloseTimeout (minutes).
 */
import { Context } from '@temporalio/activity';

/**
 * Outside an activity (a test calling an activity function directly) it only runs the work. `details` go with each
 * heartbeat (Temporal hands the last ones to the workflow when the activity times out).
 */
export async function whileHeartbeating<T>(work: () => Promise<T>, everyMs = 2_000, details?: unknown): Promise<T> {
  const context = currentContext();
  if (!context) return work();
  const timer = setInterval(() => context.heartbeat(details), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** The running activity's context, or undefined outside one. */
function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
