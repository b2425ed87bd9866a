/**
 * ScanImportWorkflow: checks the session, waits SCAN_CHECK_DELAY, checks again and, if the scans are still missing,
 * emails the admins once. `scansArrived` makes it check early (and end when the scans are there); `cancel`, or a
 * cancel recorded on the session that a check or the email finds, ends it without an email.
 */
import { condition, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { scansArrivedSignal, type ScanImportInput, type ScanImportOutcome, type ScanImportResult } from '../surface';
import { database, email } from './activity-options';
import { monitorControls } from './monitor-controls';
import { PATCHES } from './patches';

const { checkScans, composeMonitorEmail } = proxyActivities<Activities>(database);
const { emailAdmins, sendMonitorEmail } = proxyActivities<Activities>(email);

export async function ScanImportWorkflow(input: ScanImportInput): Promise<ScanImportResult> {
  const { status, cancelled, cancel, endedByCancelOnSession, finish } = monitorControls<ScanImportOutcome>({
    state: 'checking',
  });
  let scansArrived = false;
  setHandler(scansArrivedSignal, () => {
    scansArrived = true;
  });

  /** Reads the session: how that ends the monitor, or undefined while its scans are missing. */
  const check = async (): Promise<ScanImportOutcome | undefined> => {
    const found = await checkScans(input.sessionId);
    if (found.cancelled) cancel(found.cancelled);
    return found.cancelled ? 'cancelled' : found.missingScans ? undefined : 'scans-present';
  };

  const first = await check();
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
    const outcome = await check();
    if (outcome) return finish(outcome);
    if (Date.now() >= checkAt) break;
    // scansArrived, but no scans in the database yet: keep waiting until the check time.
  }
  if (cancelled()) return finish('cancelled');

  status.state = 'emailing';
  const { workflowId, runId } = workflowInfo();
  const request = {
    kind: 'no-scans',
    key: `${workflowId}:${runId}:no-scans`,
    sessionId: input.sessionId,
    recipients: input.recipients,
    waitedMs: input.checkDelayMs,
  } as const;
  if (!patched(PATCHES.monitorEmailComposedWhereSent.id)) {
    await emailAdmins(await composeMonitorEmail(request));
    return finish('email-sent');
  }
  try {
    await sendMonitorEmail(request);
  } catch (err) {
    if (endedByCancelOnSession(err)) return finish('cancelled');
    throw err;
  }
  return finish('email-sent');
}
