/**
 * What there is to know about one session, read from the database: its study and site, date, scans and
 * REDCap record (with the link to it). Serves GET /sessions/:id and the monitors' emails.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { SessionDismissal, type DismissalKind, type SessionState } from '../db/lab-data';
import { redcapRecordUrl } from '../redcap/urls';
import type { SessionFacts } from '../mail/templates';
import { xnatStateOf, type XnatState } from '../xnat/state';
import { monitorsCancelledOf, type MonitorsCancelled } from './cancel';
import { findSession, findStudySite } from './domain';
import { parseSessionId } from './ids';

export interface SessionView {
  sessionId: string;
  study: { id: string; name: string; code: string };
  site: string;
  date: string | null;
  isPhantom: boolean;
  scans: Array<{ name: string; series: number; tag: string; description: string | null; createdAt: string }>;
  redcapRecord: {
    id: number;
    record: string;
    event: string | null;
    /** The repeat instance of a repeating instrument or event; null for a form that does not repeat. */
    instance: number | null;
    /** Null once forgotten (npm run cli -- forget). */
    entryDate: string | null;
    comment: string;
    user: string | null;
    /** The data entry page on the REDCap server (of the instance; REDCap's version of the latest trigger). */
    url: string;
    /** The same through this service (bearer token). */
    redirect: string;
  } | null;
  /** When an intake started the session's monitors (they run once: a re-saved form starts none); null before. */
  monitorsStartedAt: string | null;
  /** Set when the session is marked as never getting scan data. */
  noScansExpected: { comment: string; user: string | null } | null;
  /** Set when its monitoring was cancelled (POST /sessions/:id/monitors/cancel): its monitors end at once. */
  monitorsCancelled: MonitorsCancelled | null;
  /** What the session needs, as GET /sessions lists it, and since when it needs a person (null: nothing does). */
  state: SessionState;
  outstandingSince: string | null;
  /** What people said will not come (POST /sessions/:id/dismissals), oldest first. */
  dismissals: DismissalView[];
  downloadScript: string | null;
  postDownloadScript: string | null;
  /** What XNAT said when last asked (docs/xnat.md); null when it never was (or the study site has no XNAT project). */
  xnat: XnatState | null;
}

/** A dismissal as the session shows it: what, why, who and when. */
export interface DismissalView {
  kind: DismissalKind;
  comment: string;
  /** Who dismissed it: the lab pages' logged-in user, or `API_TOKEN` for a bearer caller. */
  by: string;
  at: string;
}

export const dismissalView = (row: SessionDismissal): DismissalView => ({
  kind: row.kind,
  comment: row.comment,
  by: row.createdBy,
  at: new Date(row.createdAt).toISOString(),
});

/** Throws NotFoundError (404) for an unknown session, BadRequestError for an id that fits no convention. */
export async function viewSession(em: EntityManager, rawId: string): Promise<SessionView> {
  const session = await findSession(em, rawId);
  const studySite = await findStudySite(em, parseSessionId(session.id));
  const record = session.redcap?.record ?? null;
  return {
    sessionId: session.id,
    study: { id: studySite.study.id, name: studySite.study.name, code: studySite.code },
    site: studySite.site.id,
    date: session.date ?? null,
    isPhantom: session.timepoint.isPhantom,
    scans: session.scans
      .getItems()
      .map((scan) => ({
        name: scan.name,
        series: scan.series,
        tag: scan.tag,
        description: scan.description ?? null,
        createdAt: new Date(scan.createdAt).toISOString(),
      }))
      .sort((a, b) => a.series - b.series || a.name.localeCompare(b.name)),
    redcapRecord: record
      ? {
          id: record.id,
          record: record.record,
          event: record.eventName || null,
          instance: record.repeatInstance || null,
          entryDate: record.entryDate,
          comment: record.comment,
          user: record.user ?? null,
          url: redcapRecordUrl({
            config: record.config,
            record: record.record,
            eventId: record.eventId,
            instance: record.repeatInstance,
          }),
          redirect: `/redcap_redirect/${record.id}`,
        }
      : null,
    monitorsStartedAt: session.monitorsStartedAt ? new Date(session.monitorsStartedAt).toISOString() : null,
    noScansExpected: session.empty ? { comment: session.empty.comment, user: session.empty.user ?? null } : null,
    monitorsCancelled: monitorsCancelledOf(session),
    state: session.state,
    outstandingSince: session.outstandingSince ? new Date(session.outstandingSince).toISOString() : null,
    dismissals: (
      await em.fork().find(SessionDismissal, { sessionId: session.id }, { orderBy: { createdAt: 'asc', kind: 'asc' } })
    ).map(dismissalView),
    downloadScript: studySite.downloadScript ?? null,
    postDownloadScript: studySite.postDownloadScript ?? null,
    xnat: await xnatStateOf(em, session.id),
  };
}

/** The facts an email names. */
export function sessionFacts(view: SessionView): SessionFacts {
  return {
    sessionId: view.sessionId,
    studyId: view.study.id,
    studyName: view.study.name,
    siteId: view.site,
    date: view.date,
    redcap: view.redcapRecord
      ? { recordId: view.redcapRecord.id, record: view.redcapRecord.record, url: view.redcapRecord.url }
      : null,
  };
}
