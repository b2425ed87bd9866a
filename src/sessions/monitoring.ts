/**
 * Cancelling a session's monitoring and undoing that, as a person asks for it: POST and DELETE
 * /sessions/:id/monitors/cancel, and the lab pages' cancel and undo forms. The rules are in ./cancel.ts.
 */
import type { Client } from '@temporalio/client';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { StartedMonitors } from '../../surface';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { SignalReport } from '../temporal/monitors';
import { cancelSessionMonitors, undoMonitorsCancel, type MonitorsCancelled } from './cancel';
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
  { em, temporal, config, log }: MonitoringDeps,
  rawId: string,
  reason: string | undefined,
): Promise<{ sessionId: string; reason?: string } & SignalReport> {
  const session = await findSession(em, rawId);
  const { cancelled, report } = await cancelSessionMonitors({ temporal, config }, em, session.id, reason);
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
  const { undone, monitors } = await undoMonitorsCancel({ temporal, config }, em, view);
  log.info({ sessionId: view.sessionId, undone, monitors }, 'cancel undone; monitors started again');
  return { sessionId: view.sessionId, undone, monitors };
}
