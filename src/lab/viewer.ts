/**
 * Who is looking at the lab's pages, and what they may do: the lab config's users by their `admin`, `staff` and
 * `studies`, or the one operator of a token login (API_TOKEN, no OpenID Connect provider). Pure code.
 */
import type { LabLogin } from '../db/lab-login';

export interface Viewer {
  /** For the page header: the user's name, or "operator". */
  name: string;
  /** The lab config's user; undefined for the operator. */
  userId?: number;
  /** admin: true (and the operator): may act (cancel, dismiss, pull); staff only look. */
  canAct: boolean;
  /** The only studies this viewer sees; null: all of them. */
  studies: ReadonlySet<string> | null;
}

/** What a user of the lab config may do on the pages; null: they may not come in (neither admin nor staff). */
export function userViewer(user: {
  id: number;
  name: string;
  admin: boolean;
  staff: boolean;
  studies: Iterable<{ id: string }>;
}): Viewer | null {
  if (!user.admin && !user.staff) return null;
  const studies = new Set([...user.studies].map((study) => study.id));
  return { name: user.name, userId: user.id, canAct: user.admin, studies: studies.size > 0 ? studies : null };
}

export const OPERATOR: Viewer = { name: 'operator', canAct: true, studies: null };

/**
 * The viewer of a login row (its user populated). A token login counts only while token logins are the mode
 * (API_TOKEN set, no OpenID Connect provider): configuring a provider ends them.
 */
export function viewerOfLogin(login: LabLogin, tokenLogins: boolean): Viewer | null {
  if (login.user) return userViewer({ ...login.user, studies: login.user.studies.getItems() });
  if (login.operator && tokenLogins) return OPERATOR;
  return null;
}

export const seesStudy = (viewer: Viewer, studyId: string): boolean =>
  viewer.studies === null || viewer.studies.has(studyId);

/** The viewer's studies as a filter for a query; undefined: all. */
export const studyFilter = (viewer: Viewer): string[] | undefined =>
  viewer.studies === null ? undefined : [...viewer.studies];
