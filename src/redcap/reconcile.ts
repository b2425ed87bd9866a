/**
 * Reconciliation, the pure part (docs/redcap.md "Reconciliation"): which REDCap rows to look at, how a row is
 * identified and compared with what is filed, and when a row gets an intake. The activities (activities/reconcile.ts)
 * do the reading and the starting.
 */
import { createHash } from 'node:crypto';
import { RedcapError, type RedcapRow } from './client';
import { readScanEntry, type ScanEntry } from './record';

/**
 * REDCap reads `dateRangeBegin` in its own clock and time zone, which we do not know. Formatting our UTC time and
 * going back 14 hours (the farthest a zone is from UTC) and 15 minutes (clocks that disagree) finds every change
 * whatever the server's zone: a REDCap up to 14 h ahead of or behind us, and a few minutes off.
 */
export const RECONCILE_MARGIN_MS = 14 * 3_600_000 + 15 * 60_000;

/** `YYYY-MM-DD HH:MM:SS` in UTC, the form REDCap takes. */
export function redcapDateTime(time: Date): string {
  return time.toISOString().slice(0, 19).replace('T', ' ');
}

export interface ReconcileWindow {
  /** The earliest change the run must see. */
  from: Date;
  /** REDCap's dateRangeBegin: `from` less the margin. */
  begin: string;
  /** True when the run reaches back to the previous successful one (or, for the first, the whole lookback). */
  coversGap: boolean;
}

/**
 * What a run asks REDCap for: changes since `since` (a backfill) or else since the previous successful run
 * (`reconciledUntil`) or else over the lookback, less the margin.
 */
export function reconcileWindow(
  now: Date,
  options: { since?: Date; reconciledUntil?: Date | null; lookbackMs: number },
): ReconcileWindow {
  const needed = options.reconciledUntil ?? new Date(now.getTime() - options.lookbackMs);
  const from = options.since ?? needed;
  return {
    from,
    begin: redcapDateTime(new Date(from.getTime() - RECONCILE_MARGIN_MS)),
    coversGap: from.getTime() <= needed.getTime(),
  };
}

/** What reconciliation needs from a RedcapConfig. */
export interface ReconcileFields {
  instrument: string;
  sessionField: string;
  dateField: string;
  commentField: string;
  userField?: string | null;
  completedField: string;
  completedValue: string;
}

/** The fields to export: the record id field and those the intake reads. */
export function exportedFields(config: ReconcileFields, recordIdField: string): string[] {
  const fields = [
    recordIdField,
    config.sessionField,
    config.dateField,
    config.commentField,
    config.userField,
    config.completedField,
  ];
  return [...new Set(fields.filter((field): field is string => Boolean(field)))];
}

/**
 * A stored REDCap row's identity: config, record, event ('' in classic projects) and repeat instance (null on rows
 * that are not repeat instances). Never its date.
 */
export interface RowIdentity {
  record: string;
  eventName: string;
  instance: number | null;
}

/** The identity of an exported row (`redcap_repeat_instance` is a number on instance rows, "" on the base row). */
export function rowIdentity(row: RedcapRow, recordIdField: string): RowIdentity {
  const instance = String(row.redcap_repeat_instance ?? '');
  return {
    record: String(row[recordIdField]),
    eventName: String(row.redcap_event_name ?? ''),
    instance: /^[1-9]\d*$/.test(instance) ? Number(instance) : null,
  };
}

/** The identity of a stored record (its repeatInstance is 0 on a row that does not repeat). */
export function storedIdentity(stored: { record: string; eventName: string; repeatInstance: number }): RowIdentity {
  return { record: stored.record, eventName: stored.eventName, instance: stored.repeatInstance || null };
}

export function identityKey(identity: RowIdentity): string {
  return JSON.stringify([identity.record, identity.eventName, identity.instance]);
}

/** How ops read a row: `17`, `CMH0042 (month_6_arm_1)`, `Zoë 7 #2`. */
export function describeRow(identity: RowIdentity): string {
  return `${identity.record}${identity.eventName ? ` (${identity.eventName})` : ''}${identity.instance ? ` #${identity.instance}` : ''}`;
}

/** A row of the config's instrument: base and event rows, and instances of this instrument (not of another one). */
export function ofInstrument(row: RedcapRow, config: ReconcileFields): boolean {
  const repeated = row.redcap_repeat_instrument ?? '';
  return repeated === '' || repeated === config.instrument;
}

export function isCompleted(row: RedcapRow, config: ReconcileFields): boolean {
  return row[config.completedField] === config.completedValue;
}

/** Why a row cannot be filed, as an intake's failure names it: its type and the configured field. */
export interface RowProblem {
  type: string;
  field?: string;
}

/** The row read as the intake reads it: the entry, or why it cannot be filed. */
export type RowReading = { entry: ScanEntry; problem?: undefined } | { entry?: undefined; problem: RowProblem };

export function readRow(row: RedcapRow, config: ReconcileFields, record: string): RowReading {
  try {
    return { entry: readScanEntry(row, config, record) };
  } catch (err) {
    if (!(err instanceof RedcapError)) throw err;
    const field = typeof err.details.field === 'string' ? err.details.field : undefined;
    return { problem: { type: err.type, ...(field ? { field } : {}) } };
  }
}

/** A fingerprint of what the intake reads from a row (its session, date, comment and user fields, as sent). */
export function rowDigest(row: RedcapRow, config: ReconcileFields): string {
  const values = [config.sessionField, config.dateField, config.commentField, config.userField].map((field) =>
    field ? (row[field] ?? null) : null,
  );
  return createHash('sha256').update(JSON.stringify(values)).digest('hex').slice(0, 16);
}

/** What is filed for a row: the stored record's session, date, comment and user. */
export type FiledEntry = Pick<ScanEntry, 'sessionName' | 'comment'> & {
  /** Null once forgotten (npm run cli -- forget): REDCap's date then differs. */
  entryDate: string | null;
  user?: string | null;
};

/** True when the row is not filed as REDCap has it now: not filed, or another session, date, comment or user. */
export function differsFromFiled(filed: FiledEntry | undefined, entry: ScanEntry): boolean {
  return (
    !filed ||
    filed.sessionName !== entry.sessionName ||
    filed.entryDate !== entry.entryDate ||
    filed.comment !== entry.comment ||
    (filed.user ?? null) !== entry.user
  );
}

/** What Temporal (and, for a failed run, our database) knows of a row's intake (workflow id `redcap-intake:…`). */
export type IntakeSeen =
  | { state: 'none' }
  | { state: 'running' }
  | {
      state: 'closed';
      /** COMPLETED, FAILED, TERMINATED, … */
      status: string;
      /** Set on intakes reconciliation started: the digest of the row it started them for. */
      rowDigest?: string;
      /**
       * A failed run's verdict, from intake_failure: the digest of the row it refused, or null when it refused none
       * (it gave up with REDCap or the database down, or REDCap did not give it the row).
       */
      refusedDigest?: string | null;
      /** Runs with no row in intake_failure (started before 0.3.0), from their history: what it read, if it got that far… */
      read?: FiledEntry;
      /** …the problem its read failed with… */
      problem?: RowProblem;
      /** …and whether it gave up (reading or filing, for its whole time limit): then it decided nothing about the row. */
      gaveUp?: boolean;
    };

/** A row's intake that has ended. */
export type ClosedIntake = Extract<IntakeSeen, { state: 'closed' }>;

/**
 * Whether a completed row that is not filed as it is now gets an intake. Not while one runs (it reads the record
 * itself); not again for the same row once one has ended having judged it (a failed one has told the admins: the next
 * change of the row, or its next trigger, tries again). Otherwise, yes: no intake filed the row as it is now, and
 * none refused it (one that gave up, or was stopped, refused nothing).
 */
export function needsIntake(reading: RowReading, digest: string, intake: IntakeSeen): boolean {
  if (intake.state === 'none') return true;
  if (intake.state === 'running') return false;
  if (intake.refusedDigest !== undefined) return intake.refusedDigest !== digest;
  if (intake.gaveUp) return true;
  if (intake.rowDigest !== undefined) return intake.rowDigest !== digest;
  if (intake.status === 'COMPLETED') return true;
  // A failed intake a trigger started before 0.3.0: did it see the row as it is now? Facts, never messages (those
  // named the record with its event and instance, reconciliation without).
  if (intake.read) return !reading.entry || differsFromFiled(intake.read, reading.entry);
  if (intake.problem) return !sameProblem(reading.problem, intake.problem);
  return true;
}

function sameProblem(a: RowProblem | undefined, b: RowProblem): boolean {
  return a !== undefined && a.type === b.type && (a.field ?? null) === (b.field ?? null);
}
