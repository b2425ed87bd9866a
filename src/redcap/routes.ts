/** Routes REDCap and its users call: the Data Entry Trigger and the redirect to a record. */
import Router from '@koa/router';
import type { AppDeps } from '../app';

export function redcapRouter(_deps: AppDeps): Router {
  const router = new Router();
  return router;
}
