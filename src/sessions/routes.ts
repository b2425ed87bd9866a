/** Admin routes on sessions: read one, register a scan, cancel its monitors (and undo that). All need the bearer token. */
import Router from '@koa/router';
import { isGrpcServiceError } from '@temporalio/client';
import { z } from 'zod';
import { scansArrivedSignal } from '../../surface';
import type { AppDeps } from '../app-deps';
import { requireBearer } from '../auth';
import { limitedBody } from '../request-body';
import { requestEm } from '../db/orm';
import { BadRequestError, ConflictError, UnavailableError } from '../errors';
import { logger as defaultLogger } from '../logger';
import { refineStorable } from '../storable-text';
import {
  awaitSessionMonitorsClosed,
  cancelRunningMonitors,
  describeSessionMonitors,
  signalSessionMonitors,
  startScanMonitors,
  type MonitorName,
  type SignalReport,
} from '../temporal/monitors';
import { clearMonitorsCancelled, recordMonitorsCancelled, restoreMonitorsCancelled } from './cancel';
import { findSession } from './domain';
import { registerScan } from './scans';
import { viewSession } from './view';

const BODY_LIMIT = '100kb';

const scanBody = z
  .object({
    name: z.string().trim().min(1).max(255).superRefine(refineStorable),
    series: z.number().int().min(0).max(2_147_483_647), // a PostgreSQL integer
    tag: z.string().trim().min(1).max(64).superRefine(refineStorable),
    description: z.string().max(10_000).superRefine(refineStorable).nullish(),
  })
  .strict();

const cancelBody = z.object({ reason: z.string().trim().max(1_000).superRefine(refineStorable).optional() }).strict();

/** The JSON body, validated: a problem is a 400 that names each field. */
function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  throw new BadRequestError(`Invalid body: ${problems.join('; ')}`, { problems });
}

export function sessionsRouter(deps: AppDeps): Router {
  const log = (deps.logger ?? defaultLogger).child({ component: 'sessions' });
  const router = new Router();
  const auth = requireBearer(deps.config.apiToken);
  const json = limitedBody(['json'], BODY_LIMIT);
  const em = () => requestEm(deps.orm);

  router.get('/sessions/:sessionId', auth, async (ctx) => {
    const view = await viewSession(em(), ctx.params.sessionId);
    const monitors = await describeSessionMonitors(deps.temporal, view.sessionId);
    ctx.body = { ...view, monitors };
  });

  router.post('/sessions/:sessionId/scans', auth, json, async (ctx) => {
    const registered = await registerScan(em(), ctx.params.sessionId, parse(scanBody, ctx.request.body));
    const { sessionId } = registered;
    // The monitors also find the scan at their next check; the signal only makes them look now.
    let monitors: SignalReport | { error: string };
    try {
      monitors = await signalSessionMonitors(deps.temporal, sessionId, (handle) => handle.signal(scansArrivedSignal));
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
      log.warn({ err, sessionId }, 'scan stored, but the monitors could not be signalled');
      monitors = { error: `${err.message}. The scan is stored; the monitors find it at their next check.` };
    }
    ctx.status = registered.created ? 201 : 200;
    ctx.body = { ...registered, monitors };
  });

  router.post('/sessions/:sessionId/monitors/cancel', auth, json, async (ctx) => {
    const { reason } = parse(cancelBody, ctx.request.body);
    const manager = em();
    const session = await findSession(manager, ctx.params.sessionId);
    // Recorded first: a monitor started later, or one the signal misses, finds it at its next check.
    const cancelled = await recordMonitorsCancelled(manager, session.id, reason);
    let report: SignalReport<MonitorName>;
    try {
      report = await cancelRunningMonitors(deps.temporal, session.id, reason ? { reason } : {});
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
    ctx.body = { sessionId: session.id, ...(reason ? { reason } : {}), ...report };
  });

  /** Undoes a cancel made by mistake: clears it and starts the session's monitors again (new runs). */
  router.delete('/sessions/:sessionId/monitors/cancel', auth, async (ctx) => {
    const manager = em();
    const view = await viewSession(manager, ctx.params.sessionId);
    if (!view.monitorsCancelled) {
      throw new ConflictError(`Monitoring of ${view.sessionId} is not cancelled; nothing to undo`, {
        sessionId: view.sessionId,
      });
    }
    const undone = view.monitorsCancelled;
    // The cancelled monitors are ending; a new start would otherwise join one of them.
    await awaitSessionMonitorsClosed(deps.temporal, view.sessionId, 10_000);
    await clearMonitorsCancelled(manager, view.sessionId);
    let monitors;
    try {
      const target = {
        sessionId: view.sessionId,
        studyId: view.study.id,
        siteId: view.site,
        downloadScript: view.downloadScript,
      };
      monitors = await startScanMonitors(deps.temporal, deps.config, target);
    } catch (err) {
      await restoreMonitorsCancelled(manager, view.sessionId, undone);
      if (!isGrpcServiceError(err)) throw err;
      throw new UnavailableError(
        `Temporal did not answer while starting the monitors of ${view.sessionId}; the cancel stays. Try again when it is back`,
        {
          unavailable: 'temporal',
        },
      );
    }
    log.info({ sessionId: view.sessionId, undone, monitors }, 'cancel undone; monitors started again');
    ctx.body = { sessionId: view.sessionId, undone, monitors };
  });

  return router;
}
