/**
 * Heartbeats while a long call is in flight, so that a worker that dies mid-call is noticed after the
 * activity's heartbeatTimeout (seconds) rather than its startToCloseTimeout (minutes).
 */
import { Context } from '@temporalio/activity';

export async function whileHeartbeating<T>(work: () => Promise<T>, everyMs = 2_000): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
