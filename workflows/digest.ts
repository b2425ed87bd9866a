/**
 * LabDigestWorkflow: one study's daily digest, run by the schedule `lab-digest:<studyId>` at DIGEST_AT. One activity
 * composes and sends it (the email's text stays out of the history); the day it is for is that of the run's start,
 * so a retry after midnight is still the same day's digest, sent at most once.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { permanentErrorTypes, type LabDigestInput, type LabDigestResult } from '../surface';

// The database or SMTP server being down is retried for a few hours: a digest later that day still helps.
const { sendLabDigest } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  scheduleToCloseTimeout: '6 hours',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes: permanentErrorTypes,
  },
});

export async function LabDigestWorkflow(input: LabDigestInput): Promise<LabDigestResult> {
  return sendLabDigest({ studyId: input.studyId, at: input.at ?? new Date().toISOString() });
}
