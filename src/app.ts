/**
 * The Koa app factory (no listen): routes and the one error mapping. Tests use it directly.
 */
import Koa from 'koa';
import Router from '@koa/router';
import { RequestContext } from '@mikro-orm/core';
import type { AppDeps } from './app-deps';
import { databaseAnswers } from './db/orm';
import { errorResponse } from './errors';
import { labDataRouter } from './lab-data/routes';
import { labPages } from './lab/routes';
import { logger as defaultLogger } from './logger';
import { metricsRegistry } from './metrics';
import { redcapRouter } from './redcap/routes';
import { sessionsRouter } from './sessions/routes';
import { temporalAnswers } from './temporal/client';

export function createApp(deps: AppDeps): Koa {
  const log = deps.logger ?? defaultLogger;
  const app = new Koa();
  app.proxy = false;

  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: `No route for ${ctx.method} ${ctx.path}` };
      }
    } catch (err) {
      const { status, body } = errorResponse(err);
      ctx.status = status;
      ctx.body = body;
      if (status >= 500) log.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
    }
  });

  // A forked EntityManager per request (routes read it with requestEm, src/db/orm.ts).
  app.use((ctx, next) => RequestContext.create(deps.orm.em, next));

  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [database, temporal] = await Promise.all([databaseAnswers(deps.orm), temporalAnswers(deps.temporal)]);
    const down = [!database && 'database', !temporal && 'temporal'].filter(Boolean);
    ctx.status = down.length === 0 ? 200 : 503;
    ctx.body =
      down.length === 0
        ? { status: 'ready', database: 'ok', temporal: 'ok' }
        : {
            error: `Not ready: ${down.join(' and ')} not answering`,
            database: database ? 'ok' : 'down',
            temporal: temporal ? 'ok' : 'down',
          };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metricsRegistry.contentType;
    ctx.body = await metricsRegistry.metrics();
  });
  app.use(router.routes()).use(router.allowedMethods());
  app.use(labPages(deps));
  for (const routes of [redcapRouter(deps), sessionsRouter(deps), labDataRouter(deps)]) {
    app.use(routes.routes()).use(routes.allowedMethods());
  }
  return app;
}
