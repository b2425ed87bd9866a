/**
 * The lasting cancel of a session's monitoring (POST and DELETE /sessions/:id/monitors/cancel, and the
 * `no-scans-expected` dismissal): recorded on the session, so that a monitor started for it later, or one the cancel
 * signal missed, ends `cancelled` at its first check (activities/monitors.ts). The first cancel counts: a second one
 * keeps its reason and time.
 */
import { isGrpcServiceError, type Client } from '@temporalio/client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { cancelSignal, type StartedMonitors } from '../../surface';
import type { Config } from '../config';
import { Session } from '../db/entities';
import { ConflictError, UnavailableError } from '../errors';
import { sessionsChanged } from '../lab-data/state';
import {
  awaitSessionMonitorsClosed,
  signalSessionMonitors,
  startScanMonitors,
  type SignalReport,
} from '../temporal/monitors';
import type { SessionView } from './view';

export interface MonitorsCancelled {
  reason: string | null;
  at: string;
}

/** What cancelling and its undo need of the service. */
export interface CancelDeps {
  config: Config;
  temporal: Client;
}

/** The cancel recorded on a loaded session, or null. */
export const monitorsCancelledOf = (session: Session): MonitorsCancelled | null =>
  session.monitorsCancelledAt
    ? { reason: session.monitorsCancelReason ?? null, at: new Date(session.monitorsCancelledAt).toISOString() }
    : null;

/** Records the cancel (unless one is recorded already); returns the one recorded, and whether this call recorded it. */
export async function recordMonitorsCancelled(
  em: EntityManager,
  sessionId: string,
  reason: string | undefined,
): Promise<MonitorsCancelled & { recordedNow: boolean }> {
  const recorded = await em.nativeUpdate(
    Session,
    { id: sessionId, monitorsCancelledAt: null },
    { monitorsCancelledAt: new Date(), monitorsCancelReason: reason ?? null },
  );
  return { ...monitorsCancelledOf(await em.fork().findOneOrFail(Session, sessionId))!, recordedNow: recorded > 0 };
}

/** Clears the cancel; false when none was recorded (e.g. a second undo at the same time cleared it first). */
export async function clearMonitorsCancelled(em: EntityManager, sessionId: string): Promise<boolean> {
  const cleared = await em.nativeUpdate(
    Session,
    { id: sessionId, monitorsCancelledAt: { $ne: null } },
    { monitorsCancelledAt: null, monitorsCancelReason: null },
  );
  return cleared > 0;
}

/** Puts back a cancel that was cleared (the undo could not start the monitors). */
export async function restoreMonitorsCancelled(
  em: EntityManager,
  sessionId: string,
  cancelled: MonitorsCancelled,
): Promise<void> {
  await em.nativeUpdate(
    Session,
    { id: sessionId },
    { monitorsCancelledAt: new Date(cancelled.at), monitorsCancelReason: cancelled.reason },
  );
}

/**
 * Cancels the session's monitoring: recorded first (a monitor started later, or one the signal misses, finds it at its
 * next check), then `cancel` sent to the running monitors. Temporal not answering is a 503; the cancel stays recorded.
 */
export async function cancelSessionMonitors(
  deps: CancelDeps,
  em: EntityManager,
  sessionId: string,
  reason: string | undefined,
): Promise<{ cancelled: MonitorsCancelled & { recordedNow: boolean }; report: SignalReport }> {
  const cancelled = await recordMonitorsCancelled(em, sessionId, reason);
  await sessionsChanged(em, [sessionId]);
  return { cancelled, report: await signalMonitorsCancelled(deps, sessionId, cancelled, reason) };
}

/** Sends `cancel` to the session's running monitors once the cancel is recorded; Temporal not answering is a 503. */
export async function signalMonitorsCancelled(
  deps: CancelDeps,
  sessionId: string,
  cancelled: MonitorsCancelled,
  reason: string | undefined,
): Promise<SignalReport> {
  try {
    return await signalSessionMonitors(deps.temporal, sessionId, (handle) =>
      handle.signal(cancelSignal, reason ? { reason } : {}),
    );
  } catch (err) {
    if (!(err instanceof UnavailableError)) throw err;
    throw new UnavailableError(
      `The cancel of ${sessionId} is recorded (its monitors end at their next check), but Temporal did not answer to signal them now; try again when it is back`,
      { unavailable: 'temporal', monitorsCancelled: { reason: cancelled.reason, at: cancelled.at } },
    );
  }
}

/**
 * Undoes a cancel: clears it and starts the session's monitors again (new runs). 409 when it is not cancelled; when
 * Temporal does not answer, the cancel stays (503).
 */
export async function undoMonitorsCancel(
  deps: CancelDeps,
  em: EntityManager,
  view: SessionView,
): Promise<{ undone: MonitorsCancelled; monitors: StartedMonitors }> {
  if (!view.monitorsCancelled) {
    throw new ConflictError(`Monitoring of ${view.sessionId} is not cancelled; nothing to undo`, {
      sessionId: view.sessionId,
    });
  }
  const undone = view.monitorsCancelled;
  // The cancelled monitors are ending: let them end `cancelled` (up to 10 s). One that has not taken its cancel
  // by then (no worker up, or a slow one) would end `cancelled` in the run a start joins: the start replaces it.
  await awaitSessionMonitorsClosed(deps.temporal, view.sessionId, 10_000);
  if (!(await clearMonitorsCancelled(em, view.sessionId))) {
    throw new ConflictError(`Monitoring of ${view.sessionId} is not cancelled (any more); nothing to undo`, {
      sessionId: view.sessionId,
    });
  }
  let monitors: StartedMonitors;
  try {
    const target = {
      sessionId: view.sessionId,
      studyId: view.study.id,
      siteId: view.site,
      downloadScript: view.downloadScript,
    };
    monitors = await startScanMonitors(deps.temporal, deps.config, target, { replaceRunning: true });
  } catch (err) {
    await restoreMonitorsCancelled(em, view.sessionId, undone);
    if (!isGrpcServiceError(err)) throw err;
    throw new UnavailableError(
      `Temporal did not answer while starting the monitors of ${view.sessionId}; the cancel stays. Try again when it is back`,
      { unavailable: 'temporal' },
    );
  }
  await sessionsChanged(em, [view.sessionId]);
  return { undone, monitors };
}
