/**
 * Session-id conventions (contract "Session ids"). Pure code.
 * - datman:  STUDY_SITE_SUBJECT_TIMEPOINT[_SESSION]   e.g. SPN01_CMH_0001_01_01 (no session: number 1)
 * - phantom: STUDY_SITE_PHA_<TYPE><digits>[_01]       e.g. SPN01_CMH_PHA_FBN0013 (never a repeat session)
 * - KCNI:    STUDY_SITE_SUBJECT_TIMEPOINT_SE<nn>_MR   e.g. SPN01_CMH_0001_01_SE01_MR -> SPN01_CMH_0001_01_01
 * - KCNI phantom: STUDY_SITE_<TYPE>PHA_<digits>_MR  e.g. SPN01_CMH_FBNPHA_0013_MR -> the phantom SPN01_CMH_PHA_FBN0013
 * A subject ending in PHA is a KCNI phantom only with its _MR ending: SPN01_CMH_FBNPHA_0013 is refused, never filed
 * as subject FBNPHA (TIGRLab datman's scanid.py, whose parse cases test/unit/session-ids.test.ts ports).
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
/** datman's KCNI phantom: a three-letter type, PHA, 4 to 6 digits, the modality. */
const KCNI_PHANTOM = new RegExp(`^(${PART})_(${PART})_([A-Z]{3})PHA_(\\d{4,6})_MR$`);
/** A KCNI id of another modality than MR (datman accepts e.g. _EEG; there are no scans to monitor for it here). */
const KCNI_OTHER_MODALITY = new RegExp(
  `^${PART}_${PART}_(?:${PART}_${PART}_SE\\d{1,2}|[A-Z]{3}PHA_\\d{4,6})_([A-Z]{2,4})$`,
);

const twoDigits = (num: number) => String(num).padStart(2, '0');

/** The longest timepoint id the database holds (the session id adds _NN). */
const MAX_TIMEPOINT_ID = 64;
function checkLength(raw: string, timepointId: string): void {
  if (timepointId.length > MAX_TIMEPOINT_ID)
    invalid(raw, `it is too long (at most ${MAX_TIMEPOINT_ID} characters before the session number)`);
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
    return phantomName(raw, study, site, kind);
  }
  const kcniPhantom = KCNI_PHANTOM.exec(id);
  if (kcniPhantom) {
    const [, study, site, type, digits] = kcniPhantom;
    return phantomName(raw, study, site, `${type}${digits}`);
  }

  const kcni = KCNI.exec(id);
  const datman = kcni ?? DATMAN.exec(id);
  if (datman) {
    const [, study, site, subject, timepoint, session] = datman;
    if (subject === 'PHA') invalid(raw, 'a phantom id is STUDY_SITE_PHA_<TYPE><digits>, e.g. SPN01_CMH_PHA_FBN0013');
    if (subject.endsWith('PHA')) {
      invalid(
        raw,
        `subject ${subject} ends in PHA: a KCNI phantom is STUDY_SITE_<TYPE>PHA_<digits>_MR (e.g. SPN01_CMH_FBNPHA_0013_MR), ` +
          'a datman phantom STUDY_SITE_PHA_<TYPE><digits> (e.g. SPN01_CMH_PHA_FBN0013)',
      );
    }
    const num = session === undefined ? 1 : Number(session);
    if (num < 1) invalid(raw, 'session numbers start at 01');
    const timepointId = `${study}_${site}_${subject}_${timepoint}`;
    checkLength(raw, timepointId);
    return { study, site, subject, timepointId, num, isPhantom: false, sessionId: `${timepointId}_${twoDigits(num)}` };
  }

  const otherModality = KCNI_OTHER_MODALITY.exec(id);
  if (otherModality)
    invalid(raw, `it is a KCNI id of modality ${otherModality[1]}; only MR sessions (ending _MR) are monitored`);

  invalid(
    raw,
    'it fits no known convention (datman STUDY_SITE_SUBJECT_TIMEPOINT_SESSION, e.g. SPN01_CMH_0001_01_01; ' +
      'phantom STUDY_SITE_PHA_<TYPE><digits>; KCNI STUDY_SITE_SUBJECT_TIMEPOINT_SE<nn>_MR or STUDY_SITE_<TYPE>PHA_<digits>_MR)',
  );
}

/** The one session of a phantom: timepoint STUDY_SITE_PHA_<kind>, session 01. */
function phantomName(raw: string, study: string, site: string, kind: string): SessionName {
  const timepointId = `${study}_${site}_PHA_${kind}`;
  checkLength(raw, timepointId);
  return { study, site, subject: `PHA_${kind}`, timepointId, num: 1, isPhantom: true, sessionId: `${timepointId}_01` };
}
