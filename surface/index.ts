/**
 * The public surface of our workflows, defined once (docs/temporal.md): workflow types and ids, signals,
 * the status query, inputs, results, search attributes and the error types no retry can fix. The workflows,
 * the activities, the API, the CLI and the tests all import it; it imports nothing of ours, only
 * @temporalio/workflow and @temporalio/common (both safe inside the workflow sandbox).
 */
import { defineSearchAttributeKey, SearchAttributeType, type Duration } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';

// --- Workflow types and ids --------------------------------------------------------------------------------

export const REDCAP_INTAKE_WORKFLOW = 'RedcapIntakeWorkflow';
export const SCAN_IMPORT_WORKFLOW = 'ScanImportWorkflow';
export const SCAN_DOWNLOAD_WORKFLOW = 'ScanDownloadWorkflow';
export const REDCAP_RECONCILE_WORKFLOW = 'RedcapReconcileWorkflow';

/** Business ids: a second start for a running id joins the running workflow. */
export const scanImportWorkflowId = (sessionId: string) => `scan-import:${sessionId}`;
export const scanDownloadWorkflowId = (sessionId: string) => `scan-download:${sessionId}`;
/**
 * `redcap-intake:<configId>:<record>[:<event>][#<repeat instance>]`: one intake per record, event and instance. In the
 * record and the event, `%`, `:` and `#` are percent-encoded (`A#2` → `A%232`, `A:b` → `A%3Ab`), so that no two
 * triggers share an id; every other name (`331-2`, `Zoë 7`, `month_6_arm_1`) is as REDCap sends it.
 */
export const redcapIntakeWorkflowId = (
  configId: number,
  record: string,
  event?: string | null,
  instance?: number | null,
) =>
  `redcap-intake:${configId}:${encodeIdPart(record)}${event ? `:${encodeIdPart(event)}` : ''}${instance ? `#${instance}` : ''}`;

const encodeIdPart = (part: string) =>
  part.replace(/[%:#]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);

/** The Temporal Schedule that runs RedcapReconcileWorkflow for one REDCap config (its runs: `<schedule id>-<time>`). */
export const redcapReconcileScheduleId = (configId: number) => `redcap-reconcile:${configId}`;

// --- Search attributes (Keyword): ops filter the Web UI with SessionId="SPN01_CMH_0001_01_01" --------------

export const SessionIdAttribute = defineSearchAttributeKey('SessionId', SearchAttributeType.KEYWORD);
export const StudyIdAttribute = defineSearchAttributeKey('StudyId', SearchAttributeType.KEYWORD);
export const SiteIdAttribute = defineSearchAttributeKey('SiteId', SearchAttributeType.KEYWORD);

export const searchAttributes = [SessionIdAttribute, StudyIdAttribute, SiteIdAttribute];

// --- RedcapIntakeWorkflow ---------------------------------------------------------------------------------

/**
 * What a Data Entry Trigger names: a record of one REDCap config, its event in longitudinal projects, and its
 * repeat instance for a repeating instrument or event. A stored REDCap record is identified by the same four.
 */
export interface IntakeTrigger {
  configId: number;
  record: string;
  eventName?: string | null;
  /** REDCap's redcap_repeat_instance (1, 2, …); absent or null for a form that does not repeat. */
  instance?: number | null;
}

/**
 * REDCap saved the record again while its intake runs (startRedcapIntake sends it with every start): when the run
 * has filed what it read, it reads the record once more, so the latest save is what stays filed.
 */
export const recordSavedSignal = defineSignal('recordSaved');

export interface RedcapIntakeInput extends IntakeTrigger {
  /** How long to keep trying to read (and file) the record (default 1 day). */
  fetchTimeout?: Duration;
  /**
   * REDCap's version in the trigger's project_url, when it is not the one the config has noted: noted only once the
   * record was read, so that a forged trigger cannot change the version record links use.
   */
  redcapVersion?: string;
}

/** The session a monitor watches (its search attributes and memo carry the same). */
export interface MonitoredSession {
  sessionId: string;
  studyId: string;
  siteId: string;
}

/** What the intake hands to startMonitors: the session, and whether its study/site downloads scans. */
export interface MonitorTarget extends MonitoredSession {
  /** Set where the study/site has a download script: a ScanDownloadWorkflow is started too. */
  downloadScript?: string | null;
}

export interface StartedMonitors {
  scanImport: { workflowId: string; runId: string };
  scanDownload?: { workflowId: string; runId: string };
}

/** What filing did to the stored record: first filed, its date/comment/user changed, moved to another session, or none. */
export type RecordChange = 'created' | 'updated' | 'moved' | 'unchanged';

export interface RedcapIntakeResult {
  sessionId: string;
  redcapRecordId: number;
  sessionCreated: boolean;
  /** What the last read of the record changed. */
  change: RecordChange;
  /** The session the record was moved away from by this run (its running monitors were cancelled). */
  movedFrom?: string;
  /** The monitors this run started for the session; null when they had been started before (a session's monitors run once). */
  monitors: StartedMonitors | null;
  /** How often the record was read: more than once when REDCap saved it again while the intake ran. */
  reads: number;
}

// --- RedcapReconcileWorkflow ------------------------------------------------------------------------------

/** One reconciliation of a REDCap config: what the schedule starts, and `npm run cli -- reconcile`. */
export interface RedcapReconcileInput {
  configId: number;
  /** ISO time: look at records changed since then (the margin is added); default: since the last successful run. */
  since?: string;
}

/**
 * Rows read (base, event and repeat-instance rows of the config's instrument); intakes started; completed rows filed as
 * they are (or whose intake runs, or already saw them as they are). The rest were not completed.
 */
export interface RedcapReconcileResult {
  checked: number;
  started: number;
  unchanged: number;
}

// --- The monitors: ScanImportWorkflow and ScanDownloadWorkflow ---------------------------------------------

/**
 * Ends a monitor at once, `cancelled` (a download job it was running is stopped). This run only: the HTTP route
 * POST /sessions/:id/monitors/cancel also records it on the session, for monitors started later.
 */
export const cancelSignal = defineSignal<[CancelRequest?]>('cancel');
/** Scan data was registered for the session: the monitor checks again now (a running download job finishes first). */
export const scansArrivedSignal = defineSignal('scansArrived');

/** A monitor's check of its session: does it still miss its scans, and was its monitoring cancelled? */
export interface ScanCheck {
  missingScans: boolean;
  scans: number;
  /** Set when the session's monitoring was cancelled: the monitor ends `cancelled`, without email. */
  cancelled?: CancelRequest;
}

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

export type ScanImportOutcome = 'scans-present' | 'email-sent' | 'cancelled';
export type ScanDownloadOutcome = 'downloaded' | 'gave-up' | 'cancelled';

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
 * Where the job activities (download and post-download attempts) run: a task queue of their own next to the
 * monitors' (`scan-monitors-jobs`), served with JOB_SLOTS slots, so that long jobs and the short database and
 * email activities never wait for each other's slots.
 */
export const jobsTaskQueue = (taskQueue: string) => `${taskQueue}-jobs`;

/**
 * The session's monitoring was cancelled (POST /sessions/:id/monitors/cancel, recorded on the session): an
 * activity that finds it fails with this type (non-retryable, details `[CancelRequest]`), and the monitor
 * ends `cancelled`, without email.
 */
export const MONITORING_CANCELLED = 'MonitoringCancelled';

/** The kinds of email the monitors send (also the metric label and the idempotency-key suffix). */
export type MonitorEmailKind = 'no-scans' | 'download-gave-up';

// --- Errors ---------------------------------------------------------------------------------------------

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

// --- LabDigestWorkflow ------------------------------------------------------------------------------------

export const LAB_DIGEST_WORKFLOW = 'LabDigestWorkflow';
/** The Temporal Schedule that runs LabDigestWorkflow for one study every day at DIGEST_AT (its runs: `<id>-<time>`). */
export const labDigestScheduleId = (studyId: string) => `lab-digest:${studyId}`;

export interface LabDigestInput {
  studyId: string;
  /** ISO time the digest is for (default: the run's start): its day in TZ names the email, once per study and day. */
  at?: string;
}

export interface LabDigestResult {
  /** True when the digest was sent (now, or by an earlier run of the same day). */
  sent: boolean;
  /** The day (YYYY-MM-DD in TZ) it is for. */
  day: string;
  /** Lines it told (or would have): outstanding work, missed triggers and held emails. */
  lines: number;
  /** Why none was sent: `nothing outstanding`, `no recipients`, `study gone`. */
  reason?: string;
}
