/**
 * The lab's pages under /lab/ (docs/lab.md): server-rendered HTML behind a login. Every page but the login page wants
 * a viewer; every POST wants the login's CSRF token; acting wants an admin; a viewer limited to some studies meets
 * the others as "not found". Errors are pages too, never JSON and never a stack.
 */
import Router from '@koa/router';
import type { EntityManager } from '@mikro-orm/postgresql';
import type Koa from 'koa';
import type { VNode } from 'preact';
import { render } from 'preact-render-to-string';
import type { AppDeps } from '../app-deps';
import { secretsEqual } from '../auth';
import { User } from '../db/entities';
import { requestEm } from '../db/orm';
import type { LabLogin } from '../db/lab-login';
import { DomainError, ForbiddenError, NotFoundError, UnavailableError } from '../errors';
import { logger as defaultLogger } from '../logger';
import { limitedBody } from '../request-body';
import { cancelMonitoring, undoCancelMonitoring, type MonitoringDeps } from '../sessions/monitoring';
import { describeSessionMonitors } from '../temporal/monitors';
import { notFound, tokenLogins, visibleSession, whoIsIt } from './access';
import { endLogin, issueLogin, rememberOidc } from './logins';
import { LoginFailed, oidcLogin } from './oidc';
import { emailsAbout, findStudy, siteActivity, studySummaries, weeklyCounts } from './reads';
import { outstandingCounts, recentSessions, todaysSessionState } from './stand-ins';
import { STYLESHEET } from './stylesheet';
import { seesStudy, studyFilter, userViewer, type Viewer } from './viewer';
import { LoginPage, RefusalPage, type LoginMode } from './views/login';
import type { PageContext } from './views/parts';
import { SessionPage } from './views/session';
import { StudiesPage } from './views/studies';
import { StudyPage } from './views/study';

interface LabState {
  login: LabLogin | null;
  viewer: Viewer | null;
}
type LabContext = Koa.ParameterizedContext<LabState, Router.RouterParamContext<LabState>>;

/** Fixed notices a redirect may name (?m=): a page never shows text that came in a URL. */
const NOTICES: Record<string, string> = {
  'logged-out': 'You are logged out.',
  cancelled: 'Its monitoring is cancelled: its monitors end without email, and monitors started later end at once.',
  undone: 'The cancel is undone: its monitors start again.',
};

const WEEKS = 12;
const NEWEST_SESSIONS = 50;
/** Only paths of ours are places to go back to after logging in. */
const RETURN_TO = /^\/(lab\/|redcap_redirect\/)[^\s\\]*$/;

const SECURITY_HEADERS = (formTargets: string) => ({
  'Content-Security-Policy': `default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' ${formTargets}; frame-ancestors 'none'; base-uri 'none'`,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
});

export function labPages(deps: AppDeps): Koa.Middleware {
  const log = (deps.logger ?? defaultLogger).child({ component: 'lab' });
  const { config } = deps;
  const settings = config.lab;
  const oidc =
    settings.oidc && settings.publicUrl ? oidcLogin({ ...settings.oidc, publicUrl: settings.publicUrl }) : undefined;
  const mode: LoginMode = oidc ? 'oidc' : tokenLogins(config) ? 'token' : 'off';
  // The OIDC start is a form posted to us that redirects to the provider: CSP's form-action must allow it.
  const headers = SECURITY_HEADERS(settings.oidc ? new URL(settings.oidc.issuer).origin : '');
  const em = () => requestEm(deps.orm);
  const form = limitedBody(['form'], '16kb');
  const rules = { scanCheckDelayMs: config.durations.scanCheckDelayMs };

  const pageContext = (ctx: LabContext): PageContext => ({
    viewer: ctx.state.viewer ?? undefined,
    csrf: ctx.state.login?.csrfToken ?? '',
    now: new Date(),
  });
  const show = (ctx: LabContext, page: VNode, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = `<!doctype html>${render(page)}`;
  };

  /** The login page, with a pending login (and so a CSRF token for its form) made if the browser has none. */
  const showLogin = async (ctx: LabContext, status: number, text: { notice?: string; alert?: string } = {}) => {
    const next = typeof ctx.query.next === 'string' && RETURN_TO.test(ctx.query.next) ? ctx.query.next : null;
    const login = ctx.state.login;
    if (!login || login.user || login.operator) {
      // None yet, or a login that no longer counts (a user who lost staff, a token login once OIDC is configured).
      ctx.state.login = await issueLogin(em(), ctx, settings, { returnTo: next }, login);
      ctx.state.viewer = null;
    } else if (next && login.returnTo !== next) {
      login.returnTo = next;
      await em().flush();
    }
    show(ctx, <LoginPage page={pageContext(ctx)} mode={mode} {...text} />, status);
  };

  /** Not logged in: a page is the login page (and back after it); a form post changes nothing. */
  const viewerOnly: Router.Middleware<LabState> = async (ctx, next) => {
    if (ctx.state.viewer) return next();
    if (ctx.method === 'GET' || ctx.method === 'HEAD') {
      ctx.redirect(`/lab/login?next=${encodeURIComponent(ctx.originalUrl)}`);
      ctx.status = 303;
      return;
    }
    await showLogin(ctx, 401, { alert: 'Log in first: nothing was changed.' });
  };

  /** The form's CSRF token must be its login's: anything else is refused, and nothing changes. */
  const csrfChecked: Router.Middleware<LabState> = async (ctx, next) => {
    await form(ctx, async () => undefined);
    const given = (ctx.request.body as Record<string, unknown> | undefined)?._csrf;
    const login = ctx.state.login;
    if (!login || typeof given !== 'string' || !secretsEqual(given, login.csrfToken)) {
      throw new ForbiddenError(
        'This form was not sent from a page of this service (its CSRF token is missing or wrong), so nothing was changed. Reload the page and try again.',
      );
    }
    await next();
  };

  const actorOnly: Router.Middleware<LabState> = async (ctx, next) => {
    if (!ctx.state.viewer?.canAct) {
      throw new ForbiddenError(
        'You may look, not act: only admins of the lab config change a session. Nothing was changed.',
      );
    }
    await next();
  };

  const router = new Router<LabState>({ prefix: '/lab' });

  router.get('/style.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.body = STYLESHEET;
  });

  // --- Logging in and out -----------------------------------------------------------------------------------

  router.get('/login', async (ctx) => {
    if (ctx.state.viewer) {
      ctx.redirect('/lab/');
      return;
    }
    const code = typeof ctx.query.m === 'string' ? ctx.query.m : '';
    await showLogin(ctx, 200, { notice: NOTICES[code] });
  });

  router.post('/login', async (ctx) => {
    if (ctx.state.viewer) {
      ctx.status = 303;
      ctx.redirect('/lab/');
      return;
    }
    if (!ctx.state.login) return showLogin(ctx, 400, { alert: 'The login page had expired: try again.' });
    await csrfChecked(ctx, async () => {
      const pending = ctx.state.login!;
      if (oidc) {
        try {
          const { url, checks } = await oidc.start();
          await rememberOidc(em(), pending, checks);
          ctx.status = 303;
          ctx.redirect(url);
        } catch (err) {
          if (!(err instanceof LoginFailed)) throw err;
          show(ctx, <LoginPage page={pageContext(ctx)} mode={mode} alert={err.message} />, 503);
        }
        return;
      }
      const token = (ctx.request.body as Record<string, unknown>).token;
      if (mode !== 'token' || typeof token !== 'string' || !secretsEqual(token.trim(), config.apiToken!)) {
        log.warn('token login refused');
        const alert = mode === 'token' ? 'That is not the service’s API token.' : 'Logins are off.';
        return show(ctx, <LoginPage page={pageContext(ctx)} mode={mode} alert={alert} />, 401);
      }
      await issueLogin(em(), ctx, settings, { operator: true }, pending);
      log.info('operator logged in with the API token');
      ctx.status = 303;
      ctx.redirect(pending.returnTo ?? '/lab/');
    });
  });

  router.get('/auth/callback', async (ctx) => {
    if (!oidc) throw new NotFoundError('Logins through an OpenID Connect provider are not configured');
    const pending = ctx.state.login;
    if (!pending?.oidc || ctx.state.viewer) {
      return showLogin(ctx, 400, {
        alert: 'This login did not begin in this browser, or it took over 15 minutes: log in again.',
      });
    }
    const checks = pending.oidc;
    pending.oidc = null; // one use
    await em().flush();
    let email: string;
    try {
      ({ email } = await oidc.finish(ctx.querystring, checks));
    } catch (err) {
      if (!(err instanceof LoginFailed)) throw err;
      log.warn({ reason: err.message }, 'OpenID Connect login failed');
      return show(ctx, <LoginPage page={pageContext(ctx)} mode={mode} alert={err.message} />, 400);
    }
    const users = await usersWithEmail(em(), email);
    const refuse = (text: string, hint?: string) =>
      show(ctx, <RefusalPage page={pageContext(ctx)} title="You cannot log in here" text={text} hint={hint} />, 403);
    if (users.length === 0) {
      log.warn('OpenID Connect login of an email that is in no user of the lab config');
      return refuse(
        `You logged in as ${email}, but no user of this lab's config has that email address.`,
        'Ask an admin of the lab to add you to the lab config (with staff: true to look, admin: true to act).',
      );
    }
    if (users.length > 1) {
      return refuse(
        `More than one user of the lab config has the email address ${email}.`,
        'Ask an admin to keep one.',
      );
    }
    const [user] = users;
    if (!userViewer(user)) {
      return refuse(
        `You are in the lab config as ${user.name}, but neither as staff nor as admin.`,
        'Ask an admin to add staff: true (to look) or admin: true (to act) to your user.',
      );
    }
    await issueLogin(em(), ctx, settings, { user }, pending);
    log.info({ userId: user.id }, 'user logged in');
    ctx.status = 303;
    ctx.redirect(pending.returnTo ?? '/lab/');
  });

  router.post('/logout', viewerOnly, csrfChecked, async (ctx) => {
    await endLogin(em(), ctx, settings, ctx.state.login!);
    ctx.status = 303;
    ctx.redirect('/lab/login?m=logged-out');
  });

  // --- The pages --------------------------------------------------------------------------------------------

  router.get('/', viewerOnly, async (ctx) => {
    const studies = await studySummaries(em(), studyFilter(ctx.state.viewer!));
    const outstanding = await outstandingCounts(
      em(),
      rules,
      studies.map((study) => study.id),
    );
    show(ctx, <StudiesPage page={pageContext(ctx)} studies={studies} outstanding={outstanding} />);
  });

  router.get('/studies/:studyId', viewerOnly, async (ctx) => {
    const id = ctx.params.studyId.toUpperCase();
    const study = seesStudy(ctx.state.viewer!, id) ? await findStudy(em(), id) : null;
    if (!study) throw notFound('study', ctx.params.studyId);
    const [sites, weeks, sessions] = await Promise.all([
      siteActivity(em().fork(), study.id),
      weeklyCounts(em().fork(), study.id, study.sites, WEEKS),
      recentSessions(em().fork(), rules, study.id, NEWEST_SESSIONS),
    ]);
    show(ctx, <StudyPage page={pageContext(ctx)} data={{ study, sites, weeks, sessions }} />);
  });

  router.get('/sessions/:sessionId', viewerOnly, async (ctx) => {
    const view = await visibleSession(em(), ctx.state.viewer!, ctx.params.sessionId);
    const [state, emails, monitors] = await Promise.all([
      todaysSessionState(em().fork(), rules, view.sessionId, view.study.id),
      emailsAbout(em().fork(), view.sessionId),
      describeSessionMonitors(deps.temporal, view.sessionId).catch((err: unknown) => {
        if (!(err instanceof UnavailableError)) throw err;
        return { unavailable: `${err.message}. What the database knows is shown.` };
      }),
    ]);
    const query = encodeURIComponent(`SessionId="${view.sessionId}"`);
    const workflowsUrl = `${settings.temporalUiUrl}/namespaces/${encodeURIComponent(config.temporalNamespace)}/workflows?query=${query}`;
    const code = typeof ctx.query.m === 'string' ? ctx.query.m : '';
    show(
      ctx,
      <SessionPage
        page={pageContext(ctx)}
        data={{ view, state, emails, monitors, workflowsUrl }}
        notice={NOTICES[code]}
      />,
    );
  });

  // --- Actions on a session (forms; each redirects back to the session's page with what it did) ------------------

  /** A form on a session's page: logged in, its CSRF token, an admin, a session the viewer sees. */
  const sessionAction = (
    path: string,
    notice: keyof typeof NOTICES,
    act: (deps: MonitoringDeps, sessionId: string, body: Record<string, unknown>) => Promise<unknown>,
  ) =>
    router.post(`/sessions/:sessionId/${path}`, viewerOnly, csrfChecked, actorOnly, async (ctx) => {
      const view = await visibleSession(em(), ctx.state.viewer!, ctx.params.sessionId);
      await act(
        { em: em(), temporal: deps.temporal, config, log },
        view.sessionId,
        ctx.request.body as Record<string, unknown>,
      );
      log.info({ sessionId: view.sessionId, action: path, userId: ctx.state.viewer!.userId }, 'lab page action');
      ctx.status = 303;
      ctx.redirect(`/lab/sessions/${encodeURIComponent(view.sessionId)}?m=${notice}`);
    });

  sessionAction('cancel', 'cancelled', (monitoring, sessionId, body) => {
    const reason = typeof body.reason === 'string' ? body.reason.trim().slice(0, 1000) : '';
    return cancelMonitoring(monitoring, sessionId, reason || undefined);
  });
  sessionAction('cancel/undo', 'undone', (monitoring, sessionId) => undoCancelMonitoring(monitoring, sessionId));

  const routes = router.routes();
  const methods = router.allowedMethods();

  return async (ctx, next) => {
    if (ctx.path !== '/lab' && !ctx.path.startsWith('/lab/')) return next();
    const lab = ctx as unknown as LabContext;
    ctx.set(headers);
    try {
      if (ctx.path === '/lab') {
        ctx.redirect('/lab/');
        return;
      }
      Object.assign(lab.state, await whoIsIt(em(), config, ctx));
      await routes(lab, async () => methods(lab, async () => undefined));
      if (ctx.body === undefined && ctx.status === 404) throw new NotFoundError(`No page at ${ctx.path}`);
    } catch (err) {
      showError(lab, err);
    }
  };

  function showError(ctx: LabContext, err: unknown): void {
    const httpStatus = (err as { status?: unknown } | null)?.status;
    const status =
      err instanceof DomainError
        ? err.status
        : typeof httpStatus === 'number' && httpStatus >= 400 && httpStatus < 500
          ? httpStatus // from Koa's body parser: 413 too large, 400 malformed, 415 …
          : 500;
    if (status === 500) log.error({ err, path: ctx.path }, 'lab page failed');
    const text =
      err instanceof DomainError
        ? err.message
        : status === 413
          ? 'That form was too large; nothing was changed.'
          : status < 500
            ? 'That request was not understood; nothing was changed.'
            : 'Something went wrong; the details are in the service log.';
    show(ctx, <RefusalPage page={pageContext(ctx)} title={ERROR_TITLES[status] ?? 'Not done'} text={text} />, status);
  }
}

const ERROR_TITLES: Record<number, string> = {
  400: 'Not understood',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not done',
  500: 'Something went wrong',
  503: 'Not available now',
};

/** The lab config's users with this email address (as people write it: any case). */
async function usersWithEmail(em: EntityManager, email: string): Promise<User[]> {
  const rows: Array<{ id: number }> = await em
    .getConnection()
    .execute('select id from app_user where lower(email) = lower(?)', [email]);
  if (rows.length === 0) return [];
  return em.find(User, { id: { $in: rows.map((row) => row.id) } }, { populate: ['studies'] });
}
