/**
 * Cancelling a session's monitoring and undoing that: what POST and DELETE /sessions/:id/monitors/cancel do, and the
 * lab pages' cancel and undo forms with them.
 */
import { isGrpcServiceError, type Client } from '@temporalio/client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { cancelSignal, type StartedMonitors } from '../../surface';
import type { Config } from '../config';
import { ConflictError, UnavailableError } from '../errors';
import type { Logger } from '../logger';
import {
  awaitSessionMonitorsClosed,
  signalSessionMonitors,
  startScanMonitors,
  type SignalReport,
} from '../temporal/monitors';
import {
  clearMonitorsCancelled,
  recordMonitorsCancelled,
  restoreMonitorsCancelled,
  type MonitorsCancelled,
} from './cancel';
import { findSession } from './domain';
import { viewSession } from './view';

export interface MonitoringDeps {
  em: EntityManager;
  temporal: Client;
  config: Config;
  log: Logger;
}

/** Records the cancel on the session, then signals its running monitors. Unknown session: NotFoundError. */
export async function cancelMonitoring(
  { em, temporal, log }: MonitoringDeps,
  rawId: string,
  reason: string | undefined,
): Promise<{ sessionId: string; reason?: string } & SignalReport> {
  const session = await findSession(em, rawId);
  // Recorded first: a monitor started later, or one the signal misses, finds it at its next check.
  const cancelled = await recordMonitorsCancelled(em, session.id, reason);
  let report: SignalReport;
  try {
    report = await signalSessionMonitors(temporal, session.id, (handle) =>
      handle.signal(cancelSignal, reason ? { reason } : {}),
    );
  } catch (err) {
    if (!(err instanceof UnavailableError)) throw err;
    throw new UnavailableError(
      `The cancel of ${session.id} is recorded (its monitors end at their next check), but Temporal did not answer to signal them now; try again when it is back`,
      { unavailable: 'temporal', monitorsCancelled: cancelled },
    );
  }
  log.info(
    { sessionId: session.id, reason, cancelled, signalled: report.signalled.map((m) => m.workflowId) },
    'monitors cancelled',
  );
  return { sessionId: session.id, ...(reason ? { reason } : {}), ...report };
}

/** Undoes a cancel made by mistake: clears it and starts the session's monitors again (new runs). */
export async function undoCancelMonitoring(
  { em, temporal, config, log }: MonitoringDeps,
  rawId: string,
): Promise<{ sessionId: string; undone: MonitorsCancelled; monitors: StartedMonitors }> {
  const view = await viewSession(em, rawId);
  if (!view.monitorsCancelled) {
    throw new ConflictError(`Monitoring of ${view.sessionId} is not cancelled; nothing to undo`, {
      sessionId: view.sessionId,
    });
  }
  const undone = view.monitorsCancelled;
  // The cancelled monitors are ending; a new start would otherwise join one of them.
  await awaitSessionMonitorsClosed(temporal, view.sessionId, 10_000);
  await clearMonitorsCancelled(em, view.sessionId);
  let monitors: StartedMonitors;
  try {
    const target = {
      sessionId: view.sessionId,
      studyId: view.study.id,
      siteId: view.site,
      downloadScript: view.downloadScript,
    };
    monitors = await startScanMonitors(temporal, config, target);
  } catch (err) {
    await restoreMonitorsCancelled(em, view.sessionId, undone);
    if (!isGrpcServiceError(err)) throw err;
    throw new UnavailableError(
      `Temporal did not answer while starting the monitors of ${view.sessionId}; the cancel stays. Try again when it is back`,
      { unavailable: 'temporal' },
    );
  }
  log.info({ sessionId: view.sessionId, undone, monitors }, 'cancel undone; monitors started again');
  return { sessionId: view.sessionId, undone, monitors };
}
