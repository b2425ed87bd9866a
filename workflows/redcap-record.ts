/**
 * RedcapRecordMonitor: the reverse monitor (docs/xnat.md "Sessions without a REDCap record"). The XNAT sync starts it
 * for a session XNAT has and REDCap does not; it waits REDCAP_RECORD_DELAY and emails the admins once, unless the
 * session's REDCap record was filed meanwhile (`record-filed`: the intake's `recordFiled` signal ends the wait early,
 * the check finds it anyway) or none is expected (`dismissed`). `cancel`, or a cancel recorded on the session, ends
 * it without an email.
 */
import { condition, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  recordFiledSignal,
  type RedcapRecordInput,
  type RedcapRecordOutcome,
  type RedcapRecordResult,
} from '../surface';
import { database, email } from './activity-options';
import { monitorControls } from './monitor-controls';

const { checkRedcapRecord } = proxyActivities<Activities>(database);
const { emailNoRedcapRecord } = proxyActivities<Activities>(email);

export async function RedcapRecordMonitor(input: RedcapRecordInput): Promise<RedcapRecordResult> {
  const { status, cancelled, cancel, finish } = monitorControls<RedcapRecordOutcome>({ state: 'checking' });
  let recordFiled = false;
  setHandler(recordFiledSignal, () => {
    recordFiled = true;
  });

  /** Reads the session: how that ends the monitor, or undefined while its record is missing. */
  const check = async (): Promise<RedcapRecordOutcome | undefined> => {
    const found = await checkRedcapRecord(input.sessionId);
    if (found.cancelled) {
      cancel(found.cancelled);
      return 'cancelled';
    }
    if (found.recordFiled) return 'record-filed';
    return found.noRecordExpected ? 'dismissed' : undefined;
  };

  const first = await check();
  if (first) return finish(first);

  const checkAt = Date.now() + input.delayMs;
  status.nextCheckAt = new Date(checkAt).toISOString();
  for (;;) {
    status.state = 'waiting';
    const remaining = checkAt - Date.now();
    if (remaining > 0) await condition(() => cancelled() !== undefined || recordFiled, remaining);
    if (cancelled()) return finish('cancelled');
    status.state = 'checking';
    recordFiled = false; // a signal during the check below makes the next wait end at once
    const outcome = await check();
    if (outcome) return finish(outcome);
    if (Date.now() >= checkAt) break;
  }

  status.state = 'emailing';
  const { workflowId, runId } = workflowInfo();
  await emailNoRedcapRecord({
    key: `${workflowId}:${runId}:no-redcap-record`,
    sessionId: input.sessionId,
    waitedMs: input.delayMs,
  });
  return finish('email-sent');
}
