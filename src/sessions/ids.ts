/**
 * Session-id conventions (contract "Session ids"). Pure code.
 * - datman:  STUDY_SITE_SUBJECT_TIMEPOINT[_SESSION]   e.g. SPN01_CMH_0001_01_01 (no session: number 1)
 * - phantom: STUDY_SITE_PHA_<TYPE><digits>[_01]       e.g. SPN01_CMH_PHA_FBN0013 (never a repeat session)
 * - KCNI:    STUDY_SITE_SUBJECT_TIMEPOINT_SE<nn>_MR   e.g. SPN01_CMH_0001_01_SE01_MR -> SPN01_CMH_0001_01_01
 * Input is case-insensitive; everything is returned upper case.
 */
import { BadRequestError } from '../errors';

export interface SessionName {
  /** Study code as written in the id (resolved to a study through the site), e.g. SPN01. */
  study: string;
  site: string;
  /** e.g. 0001, or PHA_FBN0013 for a phantom. */
  subject: string;
  /** e.g. SPN01_CMH_0001_01, or SPN01_CMH_PHA_FBN0013 for a phantom. */
  timepointId: string;
  num: number;
  isPhantom: boolean;
  /** e.g. SPN01_CMH_0001_01_01, or SPN01_CMH_PHA_FBN0013_01 for a phantom. */
  sessionId: string;
}

export class InvalidSessionIdError extends BadRequestError {}

const PART = '[A-Z0-9]+';
const DATMAN = new RegExp(`^(${PART})_(${PART})_(${PART})_(${PART})(?:_(\\d{1,2}))?$`);
const PHANTOM = new RegExp(`^(${PART})_(${PART})_PHA_([A-Z]+\\d+)(?:_(\\d{1,2}))?$`);
const KCNI = new RegExp(`^(${PART})_(${PART})_(${PART})_(${PART})_SE(\\d{1,2})_MR$`);

const twoDigits = (num: number) => String(num).padStart(2, '0');

/** The longest timepoint id the database holds (the session id adds _NN). */
const MAX_TIMEPOINT_ID = 64;
function checkLength(raw: string, timepointId: string): void {
  if (timepointId.length > MAX_TIMEPOINT_ID) invalid(raw, `it is too long (at most ${MAX_TIMEPOINT_ID} characters before the session number)`);
}

function invalid(raw: string, why: string): never {
  throw new InvalidSessionIdError(`Invalid session id "${raw}": ${why}`, { sessionId: raw });
}

export function parseSessionId(raw: string): SessionName {
  if (typeof raw !== 'string' || raw.trim() === '') invalid(String(raw ?? ''), 'it is empty');
  const id = raw.trim().toUpperCase();

  const phantom = PHANTOM.exec(id);
  if (phantom) {
    const [, study, site, kind, session] = phantom;
    if (session !== undefined && Number(session) !== 1) invalid(raw, 'phantoms have no repeat sessions');
    const timepointId = `${study}_${site}_PHA_${kind}`;
    checkLength(raw, timepointId);
    return { study, site, subject: `PHA_${kind}`, timepointId, num: 1, isPhantom: true, sessionId: `${timepointId}_01` };
  }

  const kcni = KCNI.exec(id);
  const datman = kcni ?? DATMAN.exec(id);
  if (datman) {
    const [, study, site, subject, timepoint, session] = datman;
    if (subject === 'PHA') invalid(raw, 'a phantom id is STUDY_SITE_PHA_<TYPE><digits>, e.g. SPN01_CMH_PHA_FBN0013');
    const num = session === undefined ? 1 : Number(session);
    if (num < 1) invalid(raw, 'session numbers start at 01');
    const timepointId = `${study}_${site}_${subject}_${timepoint}`;
    checkLength(raw, timepointId);
    return { study, site, subject, timepointId, num, isPhantom: false, sessionId: `${timepointId}_${twoDigits(num)}` };
  }

  invalid(
    raw,
    'it fits no known convention (datman STUDY_SITE_SUBJECT_TIMEPOINT_SESSION, e.g. SPN01_CMH_0001_01_01; ' +
      'phantom STUDY_SITE_PHA_<TYPE><digits>; KCNI STUDY_SITE_SUBJECT_TIMEPOINT_SE<nn>_MR)',
  );
}
