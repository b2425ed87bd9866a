/** Admin routes on sessions: read one, register a scan, cancel its monitors (and undo that). All need the bearer token. */
import Router from '@koa/router';
import { RequestContext, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { scansArrivedSignal } from '../../surface';
import type { AppDeps } from '../app';
import { requireBearer } from '../auth';
import { limitedBody, parseBody } from '../request-body';
import { Scan } from '../db/entities';
import { ConflictError, UnavailableError } from '../errors';
import { logger as defaultLogger } from '../logger';
import { refineStorable } from '../storable-text';
import { sessionsChanged } from '../lab-data/state';
import { describeSessionMonitors, signalSessionMonitors, type SignalReport } from '../temporal/monitors';
import { cancelSessionMonitors, undoMonitorsCancel } from './cancel';
import { findSession } from './domain';
import { checkSessionScans } from './scan-check';
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

export function sessionsRouter(deps: AppDeps): Router {
  const log = (deps.logger ?? defaultLogger).child({ component: 'sessions' });
  const router = new Router();
  const auth = requireBearer(deps.config.apiToken);
  const json = limitedBody(['json'], BODY_LIMIT);
  const em = (): EntityManager => (RequestContext.getEntityManager() ?? deps.orm.em.fork()) as EntityManager;

  router.get('/sessions/:sessionId', auth, async (ctx) => {
    const view = await viewSession(em(), ctx.params.sessionId);
    const monitors = await describeSessionMonitors(deps.temporal, view.sessionId);
    ctx.body = { ...view, monitors };
  });

  router.post('/sessions/:sessionId/scans', auth, json, async (ctx) => {
    const body = parseBody(scanBody, ctx.request.body);
    const manager = em();
    const session = await findSession(manager, ctx.params.sessionId);
    let created = false;
    let scan = await manager.findOne(Scan, { name: body.name }, { populate: ['session'] });
    if (!scan) {
      try {
        scan = manager.create(Scan, {
          session,
          name: body.name,
          series: body.series,
          tag: body.tag,
          description: body.description ?? null,
        });
        await manager.flush();
        created = true;
      } catch (err) {
        if (!(err instanceof UniqueConstraintViolationException)) throw err;
        manager.clear();
        scan = await manager.findOneOrFail(Scan, { name: body.name }, { populate: ['session'] });
      }
    }
    if (scan.session.id !== session.id) {
      throw new ConflictError(`Scan ${body.name} is already registered for session ${scan.session.id}`, {
        scan: body.name,
        sessionId: scan.session.id,
      });
    }
    const same =
      scan.series === body.series && scan.tag === body.tag && (scan.description ?? null) === (body.description ?? null);
    if (!created && !same) {
      throw new ConflictError(
        `Scan ${body.name} is already registered for ${session.id} with other details (series ${scan.series}, tag ${scan.tag})`,
        {
          scan: body.name,
        },
      );
    }

    if (created) await sessionsChanged(manager, [session.id], log);
    // The monitors also find the scan at their next check; the signal only makes them look now. It carries the
    // session's check made here, which the import monitor takes instead of reading the database again.
    const check = await checkSessionScans(manager, session.id).catch(() => undefined);
    let monitors: SignalReport | { error: string };
    try {
      monitors = await signalSessionMonitors(deps.temporal, session.id, (handle) =>
        check ? handle.signal(scansArrivedSignal, { check }) : handle.signal(scansArrivedSignal),
      );
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
      log.warn({ err, sessionId: session.id }, 'scan stored, but the monitors could not be signalled');
      monitors = { error: `${err.message}. The scan is stored; the monitors find it at their next check.` };
    }
    ctx.status = created ? 201 : 200;
    ctx.body = {
      sessionId: session.id,
      created,
      scan: { name: scan.name, series: scan.series, tag: scan.tag, description: scan.description ?? null },
      monitors,
    };
  });

  router.post('/sessions/:sessionId/monitors/cancel', auth, json, async (ctx) => {
    const { reason } = parseBody(cancelBody, ctx.request.body);
    const manager = em();
    const session = await findSession(manager, ctx.params.sessionId);
    const { cancelled, report } = await cancelSessionMonitors(deps, manager, session.id, reason);
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
    const { undone, monitors } = await undoMonitorsCancel(deps, manager, view);
    log.info({ sessionId: view.sessionId, undone, monitors }, 'cancel undone; monitors started again');
    ctx.body = { sessionId: view.sessionId, undone, monitors };
  });

  return router;
}
