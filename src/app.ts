/**
 * The Koa app factory (no listen): routes and the one error mapping. Tests use it directly.
 */
import Koa from 'koa';
import Router from '@koa/router';
import type { Client } from '@temporalio/client';
import { RequestContext } from '@mikro-orm/core';
import type { Config } from './config';
import { databaseAnswers, type Orm } from './db/orm';
import { DomainError } from './errors';
import { logger as defaultLogger, type Logger } from './logger';
import { metricsRegistry } from './metrics';
import { redcapRouter } from './redcap/routes';
import { sessionsRouter } from './sessions/routes';
import { temporalAnswers } from './temporal/client';

export interface AppDeps {
  config: Config;
  orm: Orm;
  temporal: Client;
  logger?: Logger;
}

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

  // A forked EntityManager per request.
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
        : { error: `Not ready: ${down.join(' and ')} not answering`, database: database ? 'ok' : 'down', temporal: temporal ? 'ok' : 'down' };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metricsRegistry.contentType;
    ctx.body = await metricsRegistry.metrics();
  });
  app.use(router.routes()).use(router.allowedMethods());
  for (const routes of [redcapRouter(deps), sessionsRouter(deps)]) {
    app.use(routes.routes()).use(routes.allowedMethods());
  }
  return app;
}

/** Maps any thrown value to the JSON the API answers with. */
export function errorResponse(err: unknown): { status: number; body: Record<string, unknown> } {
  if (err instanceof DomainError) {
    return { status: err.status, body: { error: err.message, ...err.details } };
  }
  if (isDecompressionError(err)) {
    return { status: 400, body: { error: 'The body could not be decompressed: it does not match its Content-Encoding' } };
  }
  const httpError = err as { status?: number; expose?: boolean; message?: string; type?: string };
  if (typeof httpError?.status === 'number' && httpError.status >= 400 && httpError.status < 500) {
    // Errors from Koa middleware such as the body parser (413 too large, 400 malformed, 415 ...).
    return { status: httpError.status, body: { error: httpError.expose && httpError.message ? httpError.message : 'Bad request' } };
  }
  return { status: 500, body: { error: 'Internal error; the details are in the service log' } };
}

/** zlib (gzip, deflate) and brotli errors from a body that does not match its Content-Encoding. */
function isDecompressionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(Z_|ERR__ERROR_)/.test(code);
}
