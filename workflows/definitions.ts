/**
 * The monitors' public surface, defined once (contract "Temporal"): signals, the status query, inputs,
 * results, and the error types that no retry can fix. Shared by the workflows, the activities, the API
 * and the tests. Imports nothing but @temporalio/workflow.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export const SCAN_IMPORT_WORKFLOW = 'ScanImportWorkflow';
export const SCAN_DOWNLOAD_WORKFLOW = 'ScanDownloadWorkflow';

/** Ends a monitor: the running wait or download attempt is cancelled, the result is `cancelled`. */
export const cancelSignal = defineSignal<[CancelRequest?]>('cancel');
/** Scan data was registered for the session: the monitor checks the database again now. */
export const scansArrivedSignal = defineSignal('scansArrived');
/** What the monitor is doing right now. */
export const statusQuery = defineQuery<MonitorStatus>('status');

export interface CancelRequest {
  reason?: string;
}

export type MonitorState =
  | 'checking' // reading the session from the database
  | 'waiting' // ScanImportWorkflow: waiting until nextCheckAt
  | 'downloading' // ScanDownloadWorkflow: download attempts with backoff until endTime
  | 'post-download' // ScanDownloadWorkflow: running the post-download job
  | 'emailing' // telling the admins
  | 'done';

export interface MonitorStatus {
  state: MonitorState;
  /** ISO time of the next scheduled check (ScanImportWorkflow while waiting). */
  nextCheckAt?: string;
  /** ScanDownloadWorkflow: when it gives up. */
  endTime?: string;
  /** ScanDownloadWorkflow: download attempts made in the attempt rounds that have ended. */
  attempts?: number;
  /** Set once the monitor has finished. */
  outcome?: ScanImportOutcome | ScanDownloadOutcome;
  cancelReason?: string;
}

/** The session a monitor watches (its search attributes and memo carry the same). */
export interface MonitoredSession {
  sessionId: string;
  studyId: string;
  siteId: string;
}

export interface ScanImportInput extends MonitoredSession {
  /** How long to wait before checking (SCAN_CHECK_DELAY), in ms. */
  checkDelayMs: number;
  /** Who gets the email; default: every admin with an email address. */
  recipients?: string[];
}

export interface ScanDownloadInput extends MonitoredSession {
  /** ISO time after which it gives up; default: start + downloadWindowMs. */
  endTime?: string;
  /** DOWNLOAD_WINDOW, in ms. */
  downloadWindowMs: number;
  /** DOWNLOAD_RETRY_INITIAL and DOWNLOAD_RETRY_MAX, in ms. */
  retryInitialMs: number;
  retryMaxMs: number;
}

export type ScanImportOutcome = 'scans-present' | 'email-sent' | 'cancelled';
export type ScanDownloadOutcome = 'downloaded' | 'gave-up' | 'cancelled';

export interface ScanImportResult {
  outcome: ScanImportOutcome;
  cancelReason?: string;
}

export interface ScanDownloadResult {
  outcome: ScanDownloadOutcome;
  /** Download attempts made, over all rounds. */
  attempts: number;
  cancelReason?: string;
}

/**
 * Failures no retry can fix: the activities throw these types, the workflows list them in
 * nonRetryableErrorTypes, and the workflow fails with the message.
 */
export const PermanentError = {
  /** The session is no longer in the database. */
  SessionNotFound: 'SessionNotFound',
  /** The study/site has no download script (any more). */
  NoDownloadScript: 'NoDownloadScript',
  /** SUBMIT_SCRIPTS/<script> does not exist. */
  JobScriptMissing: 'JobScriptMissing',
  /** SUBMIT_COMMAND cannot be run. */
  SubmitCommandMissing: 'SubmitCommandMissing',
  /** Nobody to email: no admin has an email address. */
  NoRecipients: 'NoRecipients',
} as const;

export const permanentErrorTypes: string[] = Object.values(PermanentError);

/** The kinds of email the monitors send (also the metric label and the idempotency-key suffix). */
export type MonitorEmailKind = 'no-scans' | 'download-gave-up';
