/**
 * What a failed intake says, and where (docs/temporal.md "What the histories hold", docs/redcap.md "When it
 * cannot"). Pure code. The workflow's history (and so the Web UI) gets a summary that names the record and the kind
 * of problem: ids, field names, REDCap's own answer. The admins' email and our database (intake_failure) get the
 * detail, which may quote what REDCap holds: a session id typed by the RA that does not parse, a date that is not one.
 */
import { DomainError } from '../errors';
import { InvalidSessionIdError } from '../sessions/ids';
import { RedcapError } from './client';
import { recordName } from './names';

export interface IntakeProblem {
  /** The failure type: RedcapFieldInvalid, InvalidSessionIdError, RedcapUnavailable, … */
  type: string;
  /** The configured field the problem is in, when it is in one. */
  field?: string;
  /** For the history: names the record and the problem, never quotes a value. */
  summary: string;
  /** For the email and the database: the full reason. */
  detail: string;
  /** No retry can fix it: the row as REDCap has it (or the config) is the cause. */
  permanent: boolean;
}

export interface ProblemPlace {
  configId: number;
  record: string;
  eventName?: string | null;
  instance?: number | null;
  /** The config's session id field, named when the session id does not parse. */
  sessionField: string;
}

/** What went wrong reading or filing a record, said twice: for the history and for the people. */
export function intakeProblem(err: unknown, place: ProblemPlace): IntakeProblem {
  const name = recordName(place.record, place.eventName, place.instance);
  const record = `REDCap record ${name} (config ${place.configId})`;
  if (err instanceof RedcapError) {
    // REDCap's answer, or a field and what is wrong with it: never a value (src/redcap/record.ts).
    const field = typeof err.details.field === 'string' ? err.details.field : undefined;
    const value = typeof err.details.value === 'string' ? err.details.value : undefined;
    return {
      type: err.type,
      ...(field ? { field } : {}),
      summary: err.message,
      detail: value === undefined ? err.message : `${err.message}; REDCap has "${value}"`,
      permanent: !err.retryable,
    };
  }
  if (err instanceof InvalidSessionIdError) {
    // Its message quotes what was typed: an id that does not parse is the participant's text, not an id.
    return {
      type: err.name,
      field: place.sessionField,
      summary: `${record}: the session id in "${place.sessionField}" fits no session id convention`,
      detail: `${record}: ${err.message}`,
      permanent: true,
    };
  }
  if (err instanceof DomainError && err.status < 500) {
    // An unknown study or a session that has another record: these name parsed session ids and our record ids.
    return {
      type: err.name,
      summary: `${record}: ${err.message}`,
      detail: `${record}: ${err.message}`,
      permanent: true,
    };
  }
  // The database or a bug: the driver's message can hold the SQL and its values, so the history gets its kind only.
  const code = (err as { code?: unknown } | null)?.code;
  const kind = `${err instanceof Error ? err.name : 'Error'}${typeof code === 'string' ? ` ${code}` : ''}`;
  return {
    type: 'IntakeError',
    summary: `${record} could not be read and filed (${kind}); it is tried again`,
    detail: `${record} could not be read and filed: ${err instanceof Error ? err.message : String(err)}`,
    permanent: false,
  };
}
