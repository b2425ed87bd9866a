/**
 * XNAT experiment labels and our session ids. Pure code. A label names a session when it parses to that session's id
 * under the conventions of src/sessions/ids.ts (datman, with or without the session number; KCNI; phantoms of
 * both): the match is made here, exactly, since XNAT's own label filter matches wildcards.
 */
import { InvalidSessionIdError, parseSessionId, type SessionName } from '../sessions/ids';

/** The session id a label names, or why it names none. */
export function sessionOfLabel(label: string): { sessionId: string; name: SessionName } | { problem: string } {
  try {
    const name = parseSessionId(label);
    return { sessionId: name.sessionId, name };
  } catch (err) {
    if (err instanceof InvalidSessionIdError) return { problem: err.message };
    throw err;
  }
}

/** True when the label names exactly this session. */
export function labelNamesSession(label: string, sessionId: string): boolean {
  const found = sessionOfLabel(label);
  return 'sessionId' in found && found.sessionId === sessionId;
}

/**
 * Values for XNAT's `label` filter that find every label that may name the session: the timepoint followed by
 * anything (`SPN01_CMH_0001_01*` finds `SPN01_CMH_0001_01`, `…_01_01` and KCNI's `…_01_SE01_MR`), and for a phantom
 * also its KCNI form (`SPN01_CMH_FBNPHA_0013*`). They find more than that; labelNamesSession picks.
 */
export function labelPatterns(name: SessionName): string[] {
  const patterns = [`${name.timepointId}*`];
  const kcniPhantom = name.isPhantom ? /^PHA_([A-Z]{3})(\d{4,6})$/.exec(name.subject) : null;
  if (kcniPhantom) patterns.push(`${name.study}_${name.site}_${kcniPhantom[1]}PHA_${kcniPhantom[2]}*`);
  return patterns;
}
