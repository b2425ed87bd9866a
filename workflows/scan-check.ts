/**
 * ScanImportWorkflow's check of the database, as a local activity: it runs inside the workflow task that needs it,
 * so a check costs one workflow task instead of three server round trips (workflow task, activity task, workflow
 * task). Histories of the earlier release ran it as a (remote) activity; they replay on that path (patch below).
 */
import {
  ActivityFailure,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import type { Activities } from '../activities';
import { permanentErrorTypes, type ScanCheck, type ScansArrived } from '../surface';

/** The database being down is retried (for as long as it takes); a session gone is not. */
const options: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes: permanentErrorTypes,
  },
};
const remote = proxyActivities<Activities>(options);
const local = proxyLocalActivities<Activities>(options);

export const LOCAL_SCAN_CHECK_PATCH = 'scan-check-as-local-activity';

export async function checkScans(sessionId: string): ReturnType<Activities['checkScans']> {
  if (!patched(LOCAL_SCAN_CHECK_PATCH)) return remote.checkScans(sessionId);
  try {
    return await local.checkScans(sessionId);
  } catch (err) {
    // A local activity's failure arrives bare; wrapped as an activity's is, a failed monitor reads as before:
    // ActivityFailure (checkScans) caused by e.g. SessionNotFound. Retries never run out, so only a
    // non-retryable failure ends up here.
    if (err instanceof ActivityFailure || isCancellation(err) || !(err instanceof Error)) throw err;
    throw new ActivityFailure(
      'Local activity task failed',
      'checkScans',
      undefined,
      RetryState.NON_RETRYABLE_FAILURE,
      undefined,
      err,
    );
  }
}

/** The check a `scansArrived` carries, when it carries a well-formed one (anyone may send the signal); else undefined. */
export function broughtCheck(arrived: unknown): ScanCheck | undefined {
  const check = (arrived as ScansArrived | null | undefined)?.check as Partial<ScanCheck> | null | undefined;
  if (
    typeof check !== 'object' ||
    check === null ||
    typeof check.missingScans !== 'boolean' ||
    typeof check.scans !== 'number'
  )
    return undefined;
  const reason = (check.cancelled as { reason?: unknown } | null | undefined)?.reason;
  const cancelled =
    typeof check.cancelled === 'object' && check.cancelled !== null
      ? { cancelled: typeof reason === 'string' ? { reason } : {} }
      : {};
  return { missingScans: check.missingScans, scans: check.scans, ...cancelled };
}
