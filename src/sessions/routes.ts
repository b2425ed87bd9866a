/** Admin routes on sessions: read one, register a scan, cancel its monitors (and undo that). All need the bearer token. */
import Router from '@koa/router';
import { z } from 'zod';
import { scansArrivedSignal } from '../../surface';
import type { AppDeps } from '../app-deps';
import { requireBearer, requireBearerOrScanToken } from '../auth';
import { limitedBody, parseBody } from '../request-body';
import { requestEm } from '../db/orm';
import { sessionJobRuns } from '../jobs/ledger';
import { UnavailableError } from '../errors';
import { logger as defaultLogger } from '../logger';
import { refineStorable } from '../storable-text';
import { describeSessionMonitors, signalSessionMonitors, type SignalReport } from '../temporal/monitors';
import { cancelMonitoring, undoCancelMonitoring } from './monitoring';
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

export function sessionsRouter(deps: AppDeps): Router {
  const log = (deps.logger ?? defaultLogger).child({ component: 'sessions' });
  const router = new Router();
  const auth = requireBearer(deps.config.apiToken);
  const json = limitedBody(['json'], BODY_LIMIT);
  const em = () => requestEm(deps.orm);
  const monitoring = () => ({ em: em(), temporal: deps.temporal, config: deps.config, log });

  router.get('/sessions/:sessionId', auth, async (ctx) => {
    const manager = em();
    const view = await viewSession(manager, ctx.params.sessionId);
    const monitors = await describeSessionMonitors(deps.temporal, view.sessionId);
    ctx.body = { ...view, monitors, jobs: await sessionJobRuns(manager, view.sessionId) };
  });

  // A download job registers its scans with its own scan token (docs/jobs.md), or an admin with API_TOKEN.
  router.post('/sessions/:sessionId/scans', requireBearerOrScanToken(deps.config.apiToken), json, async (ctx) => {
    const registered = await registerScan(em(), ctx.params.sessionId, parseBody(scanBody, ctx.request.body));
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
    const { reason } = parseBody(cancelBody, ctx.request.body);
    ctx.body = await cancelMonitoring(monitoring(), ctx.params.sessionId, reason);
  });

  /** Undoes a cancel made by mistake: clears it and starts the session's monitors again (new runs). */
  router.delete('/sessions/:sessionId/monitors/cancel', auth, async (ctx) => {
    ctx.body = await undoCancelMonitoring(monitoring(), ctx.params.sessionId);
  });

  return router;
}
