/**
 * The lasting cancel of a session's monitoring (POST and DELETE /sessions/:id/monitors/cancel): recorded on
 * the session, so that a monitor started for it later, or one the cancel signal missed, ends `cancelled` at its
 * first check (activities/monitors.ts). The first cancel counts: a second one keeps its reason and time.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Session } from '../db/entities';

export interface MonitorsCancelled {
  reason: string | null;
  at: string;
}

/** The cancel recorded on a loaded session, or null. */
export const monitorsCancelledOf = (session: Session): MonitorsCancelled | null =>
  session.monitorsCancelledAt
    ? { reason: session.monitorsCancelReason ?? null, at: new Date(session.monitorsCancelledAt).toISOString() }
    : null;

/** Records the cancel (unless one is recorded already); returns the one recorded. */
export async function recordMonitorsCancelled(
  em: EntityManager,
  sessionId: string,
  reason: string | undefined,
): Promise<MonitorsCancelled> {
  await em.nativeUpdate(
    Session,
    { id: sessionId, monitorsCancelledAt: null },
    { monitorsCancelledAt: new Date(), monitorsCancelReason: reason ?? null },
  );
  return monitorsCancelledOf(await em.fork().findOneOrFail(Session, sessionId))!;
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
