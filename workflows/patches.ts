/**
 * Every live patch of workflows/, and its end (as samples-typescript `patching-api`: v2 adds `patched(id)`, v3 makes
 * it `deprecatePatch(id)`, the final version drops it). A release may deprecate a patch only once no workflow
 * started before the patch was added can still be running, and delete it only once none started before the
 * deprecation can; what that means for an upgrade is in docs/deploying.md. The workflows name patches only
 * through this table, and test/unit/patches.test.ts holds the code and the table to each other.
 */

/** The life of one patch, by release (package.json version). */
export interface PatchLife {
  /** The id recorded in a workflow's history (a marker): never changed once released. */
  id: string;
  /** The release whose workflows/ added `patched(id)`. */
  added: string;
  /** The release that replaces it by `deprecatePatch(id)`. */
  deprecated: string;
  /** The release that removes the call and its old branch, and the row here. */
  deleted: string;
}

export const PATCHES = {
  /** A cancelled intake ends Cancelled instead of emailing the admins and failing. */
  intakeEndsCancelled: { id: 'intake-ends-cancelled', added: '0.2.0', deprecated: '0.3.0', deleted: '0.4.0' },
  /** The failure email of an intake is sent in a non-cancellable scope. */
  intakeEmailNotCancellable: {
    id: 'intake-email-not-cancellable',
    added: '0.2.0',
    deprecated: '0.3.0',
    deleted: '0.4.0',
  },
  /** A `recordSaved` signal makes the intake read the record once more. */
  intakeRereadsResavedRecord: {
    id: 'intake-rereads-resaved-record',
    added: '0.2.0',
    deprecated: '0.3.0',
    deleted: '0.4.0',
  },
  /** An intake starts no monitors for a session whose monitors ran before. */
  intakeMonitorsRunOnce: { id: 'intake-monitors-run-once', added: '0.2.0', deprecated: '0.3.0', deleted: '0.4.0' },
  /** A record moved to another session cancels the old session's monitors. */
  intakeCancelsMovedMonitors: {
    id: 'intake-cancels-moved-monitors',
    added: '0.2.0',
    deprecated: '0.3.0',
    deleted: '0.4.0',
  },
  /** `scansArrived` lets a running download job finish, then checks at once; `cancel` ends the monitor at once. */
  scanDownloadJobAwareSignals: {
    id: 'scan-download-job-aware-signals',
    added: '0.2.0',
    deprecated: '0.3.0',
    deleted: '0.4.0',
  },
  /**
   * The intake reads and files the record in one activity (`readAndFileRedcapRecord`), whose input and result hold
   * ids only: what REDCap holds no longer passes through the history.
   */
  intakeReadsAndFilesInOne: {
    id: 'intake-reads-and-files-in-one',
    added: '0.3.0',
    deprecated: '0.4.0',
    deleted: '0.5.0',
  },
  /**
   * A monitor's email is composed and sent by one activity (sendMonitorEmail) from ids, kind, times and counts, so
   * that its text stays out of the history; a cancel recorded on the session meanwhile stops it (ends `cancelled`).
   */
  monitorEmailComposedWhereSent: {
    id: 'monitor-email-composed-where-sent',
    added: '0.3.0',
    deprecated: '0.4.0',
    deleted: '0.5.0',
  },
  /**
   * A failed intake is reported by `reportFailedIntake` (recorded, and the email composed from the database, retried
   * until sent) instead of `emailAdmins` with the message (tried for an hour); a save made meanwhile is read.
   */
  intakeReportsFailureFromDatabase: {
    id: 'intake-reports-failure-from-database',
    added: '0.3.0',
    deprecated: '0.4.0',
    deleted: '0.5.0',
  },
  /** A reconciliation's missed-triggers email is composed by `emailMissedTriggers`, not by `finishReconcile`. */
  reconcileEmailComposedWhereSent: {
    id: 'reconcile-email-composed-where-sent',
    added: '0.3.0',
    deprecated: '0.4.0',
    deleted: '0.5.0',
  },
  /**
   * A download whose end time passed during an attempt, or while no worker or server ran (a TimeoutFailure of the
   * attempts), gives up with its email instead of failing.
   */
  scanDownloadTimeoutGivesUp: {
    id: 'scan-download-timeout-gives-up',
    added: '0.3.0',
    deprecated: '0.4.0',
    deleted: '0.5.0',
  },
} as const satisfies Record<string, PatchLife>;
