/** A REDCap row read through a config's field names: what we file against a session. Pure code. */
import { unstorableReason } from '../storable-text';
import { RedcapError, type RedcapRow } from './client';

export interface RecordFields {
  sessionField: string;
  dateField: string;
  commentField: string;
  userField?: string | null;
}

export interface ScanEntry {
  /** The session id exactly as entered in REDCap. */
  sessionName: string;
  /** ISO date (YYYY-MM-DD) of the scan. */
  entryDate: string;
  comment: string;
  user: string | null;
}

/**
 * Reads the configured fields; a field missing from the row, or an empty session or date, names the record and the
 * field. Its error messages never quote a value (an unusable one is in the error's details).
 */
export function readScanEntry(row: RedcapRow, fields: RecordFields, record: string): ScanEntry {
  /** The value exactly as REDCap sent it (stored as is, never trimmed); `maxLength` in characters, as its column counts. */
  const read = (field: string, role: string, required: boolean, maxLength?: number): string => {
    if (!(field in row)) {
      throw new RedcapError(
        `REDCap record ${record} has no field "${field}" (the ${role} field of its REDCap config); check the field names in the config`,
        'RedcapFieldMissing',
        false,
        { record, field },
      );
    }
    const value = row[field];
    if (required && value.trim() === '') {
      throw new RedcapError(
        `REDCap record ${record} has an empty "${field}" (the ${role}); fill it in REDCap and save the form again`,
        'RedcapFieldMissing',
        false,
        {
          record,
          field,
        },
      );
    }
    const problem =
      unstorableReason(value) ??
      (maxLength !== undefined && [...value].length > maxLength
        ? `must be at most ${maxLength} characters`
        : undefined);
    if (problem) {
      throw new RedcapError(
        `REDCap record ${record} field "${field}" (the ${role}) ${problem}; correct it in REDCap and save the form again`,
        'RedcapFieldInvalid',
        false,
        {
          record,
          field,
        },
      );
    }
    return value;
  };

  const sessionName = read(fields.sessionField, 'session id', true, 255);
  const rawDate = read(fields.dateField, 'scan date', true).trim();
  const date = /^(\d{4}-\d{2}-\d{2})(?:[ T].*)?$/.exec(rawDate)?.[1];
  if (!date || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) {
    // The message names the field, never the value (it reaches the intake's history); the value is in the details.
    throw new RedcapError(
      `REDCap record ${record} field "${fields.dateField}" (the scan date) is not a date (YYYY-MM-DD)`,
      'RedcapFieldInvalid',
      false,
      { record, field: fields.dateField, value: rawDate },
    );
  }
  const comment = read(fields.commentField, 'comment', false);
  const userValue = fields.userField ? read(fields.userField, 'user', false, 255) : '';
  const user = userValue.trim() === '' ? null : userValue;
  return { sessionName, entryDate: date, comment, user };
}
