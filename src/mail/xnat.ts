/**
 * What the admins' emails say about XNAT (docs/email.md): which case a session without scans is, in the words a data
 * manager acts on (not in XNAT at all, stuck in its prearchive, archived there but never pulled into the lab's
 * archive, or XNAT not reached), and the email about a session XNAT has but REDCap does not. Pure code.
 */
import type { XnatState } from '../xnat/state';

/** What an email knows of XNAT about a session: its study site's XNAT project, and what XNAT last said. */
export interface XnatFacts {
  /** The XNAT project that holds the session's study site, and its server. */
  project: string;
  url: string;
  /** What XNAT said at the last check; null when it was never asked. */
  state: XnatState | null;
}

/** An ISO time as `2026-11-20 19:40 UTC`. */
export function describeTime(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

const since = (state: XnatState) => (state.since ? ` since ${describeTime(state.since)}` : '');

function scansIn(state: XnatState): string {
  if (state.scans === undefined) return state.reason ? ` (${state.reason})` : '';
  return ` with ${state.scans} scan${state.scans === 1 ? '' : 's'}`;
}

/**
 * The paragraph of a missing-scans email (no-scans, download gave up) that says where the scans are: one line per
 * case, then what to do. `downloaded`: the download job ran (and brought nothing).
 */
export function xnatCaseLines(sessionId: string, xnat: XnatFacts, options: { downloaded: boolean }): string[] {
  const { state } = xnat;
  const where = `XNAT project ${xnat.project} (${xnat.url})`;
  if (state === null) return [`${where} was not asked about ${sessionId}.`];
  const checked = `(XNAT checked ${describeTime(state.checkedAt)})`;
  switch (state.state) {
    case 'absent':
      return [
        `Not in XNAT at all: ${where} has no session labelled ${sessionId}, neither archived nor in its prearchive ${checked}.`,
        'The scanner may never have sent it, or sent it under another label or PatientID: check the scanner, and',
        "XNAT's prearchive for a session under another name.",
      ];
    case 'prearchive':
      return [
        `Stuck in XNAT's prearchive${since(state)}: ${where} has received ${sessionId} but not archived it ${checked}.`,
        "Archive it in XNAT's prearchive (check its subject and session labels first); the lab's archive can then",
        'pull it.',
      ];
    case 'archived':
      return [
        `Archived in XNAT${since(state)}${scansIn(state)} (${where}), but never pulled into the lab's archive ${checked}.`,
        options.downloaded
          ? 'The download job ran and brought nothing: check the job and its log, or pull the session from XNAT by hand.'
          : "Pull it from XNAT into the lab's archive (check the download job, if the site has one).",
      ];
    case 'unreachable':
      return [
        `XNAT could not be reached: ${where} did not answer about ${sessionId} ${checked}: ${state.reason ?? 'no reason given'}.`,
        'Where the scans are is not known: check that the scanner sent them, and XNAT once it is back.',
      ];
  }
}

/** The XNAT line of a session's facts, e.g. `XNAT:    archived since 2026-11-20 19:40 UTC with 12 scans (project SPN01_CMH)`. */
export function xnatFactLine(xnat: XnatFacts): string {
  const { state } = xnat;
  const what = !state
    ? 'not asked yet'
    : state.state === 'archived'
      ? `archived${since(state)}${scansIn(state)}`
      : state.state === 'prearchive'
        ? `in the prearchive${since(state)}`
        : state.state === 'absent'
          ? 'not there (neither archived nor in the prearchive)'
          : 'not reached at the last check';
  return `XNAT:    ${what} (project ${xnat.project} at ${xnat.url})`;
}
