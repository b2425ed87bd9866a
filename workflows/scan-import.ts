/**
 * ScanImportWorkflow: waits SCAN_CHECK_DELAY after the scan was logged, then checks whether scan data for
 * the session arrived; if not, emails the admins once. `scansArrived` makes it check early (and end when
 * the scans are there); `cancel` ends it without an email.
 */
import { condition, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { permanentErrorTypes, scansArrivedSignal, type ScanImportInput, type ScanImportOutcome, type ScanImportResult } from '../surface';
import { monitorControls } from './monitor-controls';
import { checkScans } from './scan-check';

const { composeMonitorEmail, emailAdmins } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  // The database or SMTP server being down is retried (for as long as it takes); a session gone is not.
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', nonRetryableErrorTypes: permanentErrorTypes },
});

export async function ScanImportWorkflow(input: ScanImportInput): Promise<ScanImportResult> {
  const { status, cancelled, finish } = monitorControls<ScanImportOutcome>({ state: 'checking' });
  let scansArrived = false;
  setHandler(scansArrivedSignal, () => {
    scansArrived = true;
  });

  if (!(await checkScans(input.sessionId)).missingScans) return finish('scans-present');

  const checkAt = Date.now() + input.checkDelayMs;
  status.nextCheckAt = new Date(checkAt).toISOString();
  for (;;) {
    status.state = 'waiting';
    const remaining = checkAt - Date.now();
    if (remaining > 0) await condition(() => cancelled() !== undefined || scansArrived, remaining);
    if (cancelled()) return finish('cancelled');
    status.state = 'checking';
    scansArrived = false; // a signal during the check below makes the next wait end at once
    if (!(await checkScans(input.sessionId)).missingScans) return finish('scans-present');
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
