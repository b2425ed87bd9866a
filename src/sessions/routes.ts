/** Admin routes on sessions: read one, register a scan, cancel its monitors. */
import Router from '@koa/router';
import type { AppDeps } from '../app';

export function sessionsRouter(_deps: AppDeps): Router {
  const router = new Router();
  return router;
}
