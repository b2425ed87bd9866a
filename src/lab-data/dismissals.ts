/**
 * Dismissals (POST and DELETE /sessions/:id/dismissals, and the lab pages' forms): a person's word, with a comment,
 * that what a session lacks will not come. `no-scans-expected` has the effect of a cancel (src/sessions/cancel.ts):
 * the session's monitors end without email, and its undo starts them again when the dismissal was what ended them.
 * `no-redcap-expected` takes a session with scans but no REDCap record off the outstanding work.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { StartedMonitors } from '../../surface';
import { DISMISSAL_KINDS, SessionDismissal, type DismissalKind } from '../db/lab-data';
import { ConflictError } from '../errors';
import {
  recordMonitorsCancelled,
  signalMonitorsCancelled,
  undoMonitorsCancel,
  type CancelDeps,
} from '../sessions/cancel';
import { findSession } from '../sessions/domain';
import { dismissalView, viewSession, type DismissalView } from '../sessions/view';
import type { SignalReport } from '../temporal/monitors';
import { sessionsChanged } from './state';

export { DISMISSAL_KINDS, type DismissalKind, type DismissalView };

/** The reason the monitors' `cancel` carries (never the comment: participant text stays out of histories). */
export const NO_SCANS_EXPECTED_REASON = 'dismissed: no scans expected';

/** For the monitors that a dismissal ends by being there (RedcapRecordMonitor and `no-redcap-expected`). */
export async function hasDismissal(em: EntityManager, sessionId: string, kind: DismissalKind): Promise<boolean> {
  return (await em.fork().count(SessionDismissal, { sessionId, kind })) > 0;
}

export interface Dismissed {
  sessionId: string;
  /** False when the session had this dismissal already: it is the first one, unchanged. */
  created: boolean;
  dismissal: DismissalView;
  /** no-scans-expected: the monitors that got `cancel`. */
  monitors?: SignalReport;
}

/**
 * Records a dismissal and ends what it dismisses. The same kind again changes nothing (the first one stays). A
 * session with a REDCap record refuses `no-redcap-expected`, one with scans `no-scans-expected` (409): they came.
 */
export async function dismissSession(
  deps: CancelDeps,
  em: EntityManager,
  rawSessionId: string,
  request: { kind: DismissalKind; comment: string },
  by: string,
): Promise<Dismissed> {
  const session = await findSession(em, rawSessionId);
  const sessionId = session.id;
  const existing = await em.fork().findOne(SessionDismissal, { sessionId, kind: request.kind });
  if (existing) return { sessionId, created: false, dismissal: dismissalView(existing) };
  if (request.kind === 'no-redcap-expected' && session.redcap?.record) {
    throw new ConflictError(
      `Session ${sessionId} has a REDCap record (id ${session.redcap.record.id}); it is not missing`,
      {
        sessionId,
        kind: request.kind,
      },
    );
  }
  if (request.kind === 'no-scans-expected' && session.scans.length > 0) {
    throw new ConflictError(`Session ${sessionId} has ${session.scans.length} scan(s); they are not missing`, {
      sessionId,
      kind: request.kind,
    });
  }
  const inserted = await em.execute<Array<{ session_id: string }>>(
    `insert into session_dismissal (session_id, kind, comment, created_by, created_at, ended_monitors)
     values (?, ?, ?, ?, now(), false) on conflict do nothing returning session_id`,
    [sessionId, request.kind, request.comment, by],
  );
  const dismissal = dismissalView(await em.fork().findOneOrFail(SessionDismissal, { sessionId, kind: request.kind }));
  if (inserted.length === 0) return { sessionId, created: false, dismissal };

  let monitors: SignalReport | undefined;
  if (request.kind === 'no-scans-expected') {
    const cancelled = await recordMonitorsCancelled(em, sessionId, NO_SCANS_EXPECTED_REASON);
    if (cancelled.recordedNow)
      await em.nativeUpdate(SessionDismissal, { sessionId, kind: request.kind }, { endedMonitors: true });
    await sessionsChanged(em, [sessionId]);
    monitors = await signalMonitorsCancelled(deps, sessionId, cancelled, NO_SCANS_EXPECTED_REASON);
  } else {
    // no-redcap-expected ends RedcapRecordMonitor (`redcap-record:<session>`, XNAT): it finds the dismissal at its
    // check (hasDismissal) and ends `dismissed`; a signal to end it at once belongs here.
    await sessionsChanged(em, [sessionId]);
  }
  return { sessionId, created: true, dismissal, ...(monitors ? { monitors } : {}) };
}

export interface DismissalUndone {
  sessionId: string;
  undone: DismissalView;
  /** The monitors started again (the dismissal had ended them). */
  monitors?: StartedMonitors;
}

/**
 * Undoes a dismissal: gone from the session, and where it had ended the session's monitoring, the cancel cleared and
 * the monitors started again (as DELETE /sessions/:id/monitors/cancel does). 409 when the session has none of the kind;
 * when Temporal does not answer, the dismissal stays (503).
 */
export async function undoDismissal(
  deps: CancelDeps,
  em: EntityManager,
  rawSessionId: string,
  kind: DismissalKind,
): Promise<DismissalUndone> {
  const view = await viewSession(em, rawSessionId);
  const { sessionId } = view;
  const row = await em.fork().findOne(SessionDismissal, { sessionId, kind });
  if (!row)
    throw new ConflictError(`Session ${sessionId} has no ${kind} dismissal; nothing to undo`, { sessionId, kind });
  const undone = dismissalView(row);
  let monitors: StartedMonitors | undefined;
  if (row.endedMonitors && view.monitorsCancelled) ({ monitors } = await undoMonitorsCancel(deps, em, view));
  await em.nativeDelete(SessionDismissal, { sessionId, kind });
  await sessionsChanged(em, [sessionId]);
  return { sessionId, undone, ...(monitors ? { monitors } : {}) };
}
