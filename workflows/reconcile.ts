/**
 * RedcapReconcileWorkflow: finds what no Data Entry Trigger announced. Asks REDCap which records of a config changed
 * since the last successful run (less a margin for REDCap's unknown clock), reads them a page at a time, and starts
 * the intake a trigger would have started for each completed row that is not filed as it is now. Run by the schedule
 * `redcap-reconcile:<configId>` and by `npm run cli -- reconcile`.
 *
 * History stays bounded: one run handles at most CHUNK records (pages of PAGE, a few at once), then continues as new
 * with its progress. REDCap refusing the token, or down for the whole retry, fails the run with REDCap's reason (the
 * schedule goes on). Deterministic: all I/O is in the activities.
 */
import { ActivityFailure, ApplicationFailure, continueAsNew, log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ReconcilePage } from '../activities/reconcile';
import type { ReconcileProgress, RedcapReconcileInput, RedcapReconcileResult } from '../surface';

/** Records per Export Records call (`records[i]`). */
const PAGE = 100;
/** Pages worked on at once. */
const PARALLEL_PAGES = 4;
/** Records per workflow run, before it continues as new. */
const CHUNK = 2_000;
/** Record names kept for the email. */
const SAMPLE = 20;

const { beginReconcile, listReconcileRecords, reconcileRecords, finishReconcile } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  // A run does not wait out a long REDCap outage: it fails, and the next one covers the same ground.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 4 },
});

const { emailAdmins } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '1 hour',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

export async function RedcapReconcileWorkflow(input: RedcapReconcileInput): Promise<RedcapReconcileResult> {
  const { configId } = input;
  try {
    const progress = input.progress ?? (await beginReconcile({ configId, since: input.since }));
    const { records, more } = await listReconcileRecords({
      configId,
      begin: progress.begin,
      recordIdField: progress.recordIdField,
      after: progress.after,
      limit: CHUNK,
    });
    for (let i = 0; i < records.length; i += PAGE * PARALLEL_PAGES) {
      const pages: Array<Promise<ReconcilePage>> = [];
      for (let j = i; j < Math.min(i + PAGE * PARALLEL_PAGES, records.length); j += PAGE) {
        pages.push(reconcileRecords({ configId, recordIdField: progress.recordIdField, records: records.slice(j, j + PAGE) }));
      }
      for (const page of await Promise.all(pages)) add(progress, page);
    }
    if (more) {
      await continueAsNew<typeof RedcapReconcileWorkflow>({ ...input, progress: { ...progress, after: records[records.length - 1] } });
    }

    const email = await finishReconcile({ configId, progress });
    if (email) {
      try {
        await emailAdmins(email);
      } catch (err) {
        log.warn('could not email the admins about missed triggers', { configId, error: (err as Error).message });
      }
    }
    return progress.totals;
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    // REDCap's reason (or the database's) as the run's failure, in the Web UI; the schedule goes on.
    const cause = err.cause;
    const message = cause?.message ?? err.message;
    const type = cause instanceof ApplicationFailure && cause.type ? cause.type : 'ReconcileFailed';
    log.error('reconciliation failed', { configId, type, error: message });
    throw ApplicationFailure.create({ message: `Reconciliation of REDCap config ${configId} failed: ${message}`, type, nonRetryable: true });
  }
}

function add(progress: ReconcileProgress, page: ReconcilePage): void {
  progress.totals.checked += page.checked;
  progress.totals.started += page.started;
  progress.totals.unchanged += page.unchanged;
  progress.missed.count += page.missed.count;
  progress.missed.sample.push(...page.missed.sample.slice(0, Math.max(0, SAMPLE - progress.missed.sample.length)));
}
