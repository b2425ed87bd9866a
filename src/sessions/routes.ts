/** Admin routes on sessions: read one, register a scan, cancel its monitors (and undo that). All need the bearer token. */
import Router from '@koa/router';
import { RequestContext, UniqueConstraintViolationException } from '@mikro-orm/core';
import { isGrpcServiceError } from '@temporalio/client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { cancelSignal, scansArrivedSignal } from '../../surface';
import type { AppDeps } from '../app';
import { requireBearer, requireBearerOrScanToken } from '../auth';
import { limitedBody } from '../request-body';
import { Scan } from '../db/entities';
import { BadRequestError, ConflictError, UnavailableError } from '../errors';
import { logger as defaultLogger } from '../logger';
import { refineStorable } from '../storable-text';
import {
  awaitSessionMonitorsClosed,
  describeSessionMonitors,
  signalSessionMonitors,
  startScanMonitors,
  type SignalReport,
} from '../temporal/monitors';
import { clearMonitorsCancelled, recordMonitorsCancelled, restoreMonitorsCancelled } from './cancel';
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
  const em = (): EntityManager => (RequestContext.getEntityManager() ?? deps.orm.em.fork()) as EntityManager;

  router.get('/sessions/:sessionId', auth, async (ctx) => {
    const view = await viewSession(em(), ctx.params.sessionId);
    const monitors = await describeSessionMonitors(deps.temporal, view.sessionId);
    ctx.body = { ...view, monitors };
  });

  // A download job registers its scans with its own scan token (docs/jobs.md), or an admin with API_TOKEN.
  router.post('/sessions/:sessionId/scans', requireBearerOrScanToken(deps.config.apiToken), json, async (ctx) => {
    const body = parse(scanBody, ctx.request.body);
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
    const { reason } = parse(cancelBody, ctx.request.body);
    const manager = em();
    const session = await findSession(manager, ctx.params.sessionId);
    // Recorded first: a monitor started later, or one the signal misses, finds it at its next check.
    const cancelled = await recordMonitorsCancelled(manager, session.id, reason);
    let report: SignalReport;
    try {
      report = await signalSessionMonitors(deps.temporal, session.id, (handle) =>
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
      monitors = await startScanMonitors(deps.temporal, deps.config, target, {
        check: await checkSessionScans(manager, view.sessionId),
      });
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
