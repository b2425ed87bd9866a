/**
 * Who the request is, for the lab's pages and for the links they show: the login of the request's cookie, and the
 * rule that a viewer limited to some studies sees nothing of the others (it is a 404 to them, as if absent).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type Koa from 'koa';
import { requireBearer } from '../auth';
import type { Config } from '../config';
import { requestEm, type Orm } from '../db/orm';
import type { LabLogin } from '../db/lab-login';
import { SessionRedcap } from '../db/entities';
import { BadRequestError, NotFoundError } from '../errors';
import { findStudySite } from '../sessions/domain';
import { parseSessionId } from '../sessions/ids';
import { viewSession, type SessionView } from '../sessions/view';
import { findLogin } from './logins';
import { seesStudy, viewerOfLogin, type Viewer } from './viewer';

/** Token logins are the mode while no OpenID Connect provider is configured and API_TOKEN is set. */
export const tokenLogins = (config: Config): boolean => !config.lab.oidc && config.apiToken !== undefined;

/** The request's login row (any: pending too) and its viewer (null when not logged in). */
export async function whoIsIt(
  em: EntityManager,
  config: Config,
  ctx: Koa.Context,
): Promise<{ login: LabLogin | null; viewer: Viewer | null }> {
  const login = await findLogin(em, ctx);
  return { login, viewer: login ? viewerOfLogin(login, tokenLogins(config)) : null };
}

/** The session as the viewer may see it: unknown, malformed and another study's are all "not found". */
export async function visibleSession(em: EntityManager, viewer: Viewer, rawId: string): Promise<SessionView> {
  let view: SessionView;
  try {
    view = await viewSession(em, rawId);
  } catch (err) {
    if (err instanceof BadRequestError) throw notFound('session', rawId);
    throw err;
  }
  if (!seesStudy(viewer, view.study.id)) throw notFound('session', rawId);
  return view;
}

/** May the viewer follow a link to this REDCap record (ours, as in /redcap_redirect/:id)? */
export async function seesRecord(em: EntityManager, viewer: Viewer, recordId: number): Promise<boolean> {
  if (viewer.studies === null) return true;
  const link = await em.findOne(SessionRedcap, { record: recordId });
  if (!link) return false;
  try {
    return seesStudy(viewer, (await findStudySite(em, parseSessionId(link.session.id))).study.id);
  } catch {
    return false;
  }
}

export const notFound = (what: 'session' | 'study', id: string) =>
  new NotFoundError(`No ${what} ${id}`, { [what]: id });

/**
 * For a JSON route that a page links (GET /redcap_redirect/:id): the bearer token, or else a login to the pages
 * (ctx.state.viewer, whose studies the route then respects). A browser with neither goes to the login page.
 */
export function bearerOrLabLogin(deps: { config: Config; orm: Orm }): Koa.Middleware {
  const bearer = requireBearer(deps.config.apiToken);
  return async (ctx, next) => {
    if (ctx.get('authorization')) return bearer(ctx, next);
    const em = requestEm(deps.orm);
    const { viewer } = await whoIsIt(em, deps.config, ctx);
    if (viewer) {
      ctx.state.viewer = viewer;
      return next();
    }
    if (ctx.accepts('json', 'html') === 'html') {
      ctx.redirect(`/lab/login?next=${encodeURIComponent(ctx.originalUrl)}`);
      ctx.status = 303;
      return;
    }
    return bearer(ctx, next);
  };
}
