/**
 * ScanImportWorkflow: waits SCAN_CHECK_DELAY after the scan was logged, then checks whether scan data for
 * the session arrived; if not, emails the admins once. `scansArrived` makes it check early (and end when
 * the scans are there); `cancel`, or a cancel recorded on the session that a check finds, ends it without
 * an email. A check the starter made just before (input.scansMissingAt) or one a `scansArrived` brought stands in for
 * a read of the database: the monitor then costs one workflow task per wake-up and no local activity.
 */
import { condition, patched, proxyActivities, setHandler, workflowInfo, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  permanentErrorTypes,
  scansArrivedSignal,
  type ScanCheck,
  type ScanImportInput,
  type ScanImportOutcome,
  type ScanImportResult,
  type ScansArrived,
} from '../surface';
import { monitorControls } from './monitor-controls';
import { broughtCheck, checkScans } from './scan-check';

/**
 * The checks made by others. Each is guarded although only new inputs and signals switch it on: while a deploy has
 * old and new workers on the queue, a monitor started (or signalled) by the new code may run a task on the old, which
 * ignores the check and reads the database; the new code must then replay that read.
 */
export const STARTER_CHECK_PATCH = 'scan-import-takes-starter-check';
export const BROUGHT_CHECK_PATCH = 'scan-import-takes-brought-check';

// The database or SMTP server being down is retried (for as long as it takes); a session gone is not.
const retry: RetryPolicy = {
  initialInterval: '10 seconds',
  backoffCoefficient: 2,
  maximumInterval: '10 minutes',
  nonRetryableErrorTypes: permanentErrorTypes,
};
const { composeMonitorEmail } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute', retry });
/** The email heartbeats while it is sent: a worker that dies mid-send is noticed in seconds. */
const { emailAdmins } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '10 seconds',
  retry,
});

export async function ScanImportWorkflow(input: ScanImportInput): Promise<ScanImportResult> {
  const { status, cancelled, cancel, finish } = monitorControls<ScanImportOutcome>({ state: 'checking' });
  let scansArrived = false;
  /** The check the last `scansArrived` brought, until a check takes it. */
  let brought: ScanCheck | undefined;
  setHandler(scansArrivedSignal, (arrived?: ScansArrived) => {
    scansArrived = true;
    brought = broughtCheck(arrived);
  });
  /** The session's check: the one a signal brought, else a read of the database. */
  const takeCheck = async (): Promise<ScanCheck> => {
    const taken = brought !== undefined && patched(BROUGHT_CHECK_PATCH) ? brought : undefined;
    brought = undefined;
    return taken ?? (await checkScans(input.sessionId));
  };
  /** How a check ends the monitor: a cancel recorded on the session, or the scans; undefined: still missing. */
  const ending = (check: ScanCheck): ScanImportOutcome | undefined => {
    if (check.cancelled) cancel(check.cancelled);
    return check.cancelled ? 'cancelled' : check.missingScans ? undefined : 'scans-present';
  };

  // The starter found the scans missing just now (input.scansMissingAt): nothing to check yet.
  const first =
    input.scansMissingAt !== undefined && patched(STARTER_CHECK_PATCH) ? undefined : ending(await takeCheck());
  if (first) return finish(first);

  const checkAt = Date.now() + input.checkDelayMs;
  status.nextCheckAt = new Date(checkAt).toISOString();
  for (;;) {
    status.state = 'waiting';
    const remaining = checkAt - Date.now();
    if (remaining > 0) await condition(() => cancelled() !== undefined || scansArrived, remaining);
    if (cancelled()) return finish('cancelled');
    status.state = 'checking';
    scansArrived = false; // a signal during the check below makes the next wait end at once
    const outcome = ending(await takeCheck());
    if (outcome) return finish(outcome);
    if (Date.now() >= checkAt) break;
    // scansArrived, but no scans in the database yet: keep waiting until the check time.
  }
  if (cancelled()) return finish('cancelled');

  status.state = 'emailing';
  const { workflowId, runId } = workflowInfo();
  const email = await composeMonitorEmail({
    kind: 'no-scans',
    key: `${workflowId}:${runId}:no-scans`,
    sessionId: input.sessionId,
    recipients: input.recipients,
    waitedMs: input.checkDelayMs,
  });
  await emailAdmins(email);
  return finish('email-sent');
}
