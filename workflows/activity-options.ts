/**
 * The activity options of every workflow, as a few named presets (as samples-typescript `saga` does). Changing one
 * needs no patch (options are not replayed), but the replay and release-switch tests are the judge.
 */
import type { ActivityOptions, RetryPolicy } from '@temporalio/workflow';
import { permanentErrorTypes } from '../surface';

/** Retried for as long as it takes (the database or SMTP server down); a failure no retry fixes is not. */
const untilFixed: RetryPolicy = {
  initialInterval: '10 seconds',
  backoffCoefficient: 2,
  maximumInterval: '10 minutes',
  nonRetryableErrorTypes: permanentErrorTypes,
};

/** The monitors' reads of the database (checkScans, composeMonitorEmail). */
export const database: ActivityOptions = { startToCloseTimeout: '1 minute', retry: untilFixed };

/** A monitor's email: it heartbeats while sent, so a worker that dies mid-send is noticed in seconds. */
export const email: ActivityOptions = { ...database, heartbeatTimeout: '10 seconds' };

/** An email about a failure (a failed intake, missed triggers): tried for an hour, then given up (and logged). */
export const failureEmail: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '1 hour',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
};

/** The intake's filing, starting and cancelling of monitors: tried for a day. */
export const filing: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' },
};

/** Reading a record from REDCap: tried for `timeout` (REDCap down), heartbeating so a dead worker is noticed. */
export const redcapRead = (timeout: ActivityOptions['scheduleToCloseTimeout']): ActivityOptions => ({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  scheduleToCloseTimeout: timeout,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/** A reconciliation does not wait out a long REDCap outage: it fails, and the next run covers the same ground. */
const fourTries: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 4,
};

/** The short steps of a reconciliation (its window, its end). */
export const reconcileStep: ActivityOptions = { startToCloseTimeout: '2 minutes', retry: fourTries };

/** The pages of a big project take minutes; a worker that dies is noticed by the missing heartbeat. */
export const reconcilePages: ActivityOptions = {
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '1 minute',
  retry: fourTries,
};

/** One XNAT project's sync (its two listings, the filing, the monitors it starts): fails after four tries, as a reconciliation does. */
export const xnatSync: ActivityOptions = { startToCloseTimeout: '10 minutes', retry: fourTries };

/**
 * ScanDownloadWorkflow's wait for XNAT to archive the session: one activity retried on the download backoff until
 * the end time (`remainingMs` from now), like the download attempts. Each attempt waits at most a few seconds on XNAT.
 */
export const xnatWait = (remainingMs: number, backoff: { initialMs: number; maxMs: number }): ActivityOptions => ({
  scheduleToCloseTimeout: remainingMs,
  startToCloseTimeout: '1 minute',
  retry: { ...untilFixed, initialInterval: backoff.initialMs, maximumInterval: backoff.maxMs },
});

/** Longest one job attempt may run; a longer download belongs in a batch queue (sbatch). */
const JOB_ATTEMPT_MS = 60 * 60 * 1000;

/** The job activities run on the jobs task queue (surface jobsTaskQueue), with slots of their own. */
const job = (jobsQueue: string): ActivityOptions => ({ taskQueue: jobsQueue, heartbeatTimeout: '1 minute' });

/** The post-download job: retried (1 minute doubling to 1 hour); the activity counts failures and gives up. */
export const postDownloadJob = (jobsQueue: string): ActivityOptions => ({
  ...job(jobsQueue),
  startToCloseTimeout: '1 hour',
  retry: { ...untilFixed, initialInterval: '1 minute', maximumInterval: '1 hour' },
});

/**
 * Download attempts: retried with the monitor's backoff until the end time (`remainingMs` from now), so Temporal
 * itself stops retrying there.
 */
export const downloadJob = (
  jobsQueue: string,
  remainingMs: number,
  backoff: { initialMs: number; maxMs: number },
): ActivityOptions => ({
  ...job(jobsQueue),
  scheduleToCloseTimeout: remainingMs,
  startToCloseTimeout: Math.min(remainingMs, JOB_ATTEMPT_MS),
  retry: { ...untilFixed, initialInterval: backoff.initialMs, maximumInterval: backoff.maxMs },
});
