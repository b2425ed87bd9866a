/**
 * Logins to the lab's pages, kept in PostgreSQL (src/db/lab-login.ts). The cookie holds a random 256-bit token and
 * nothing else; the row, found by the token's SHA-256, says who it is, until when, and the CSRF token of its forms.
 * Why not a signed cookie holding the login: logging out (or a user's removal from the config) ends the login on
 * the server at once, a copied cookie stops working with it, and no signing secret has to be set and shared between
 * API processes; a forged cookie names no row.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type Koa from 'koa';
import type { LabSettings } from '../config';
import { LabLogin, type PendingOidc } from '../db/lab-login';
import type { User } from '../db/entities';

export const LOGIN_COOKIE = 'lab_login';
/** A browser on its way in (the login page, a redirect to the provider) has this long. */
export const PENDING_MS = 15 * 60_000;

const token = () => randomBytes(32).toString('base64url');
const hash = (value: string) => createHash('sha256').update(value).digest('hex');

/** The login row of the request's cookie, while it lasts (its user and the user's studies loaded). */
export async function findLogin(em: EntityManager, ctx: Koa.Context): Promise<LabLogin | null> {
  const cookie = ctx.cookies.get(LOGIN_COOKIE);
  if (!cookie || cookie.length > 100) return null;
  return em.findOne(
    LabLogin,
    { id: hash(cookie), expiresAt: { $gt: new Date() } },
    { populate: ['user', 'user.studies'] },
  );
}

function setCookie(ctx: Koa.Context, settings: LabSettings, value: string | null, expires: Date): void {
  if (settings.secureCookies) ctx.cookies.secure = true; // https is ended by a proxy in front of us
  ctx.cookies.set(LOGIN_COOKIE, value, {
    httpOnly: true,
    // Lax, not Strict: the provider's redirect back to the callback is a cross-site navigation that must bring it.
    sameSite: 'lax',
    secure: settings.secureCookies,
    path: '/',
    expires,
    overwrite: true,
  });
}

export interface Identity {
  user?: User;
  operator?: boolean;
}

/**
 * A new row and its cookie: a pending browser (no identity) or a login. Logging in always makes a new token
 * (the pending one is deleted), so a token planted before the login is worth nothing after it.
 */
export async function issueLogin(
  em: EntityManager,
  ctx: Koa.Context,
  settings: LabSettings,
  identity: Identity & { returnTo?: string | null },
  replaces?: LabLogin | null,
): Promise<LabLogin> {
  const value = token();
  const pending = !identity.user && !identity.operator;
  const expiresAt = new Date(Date.now() + (pending ? PENDING_MS : settings.loginExpiryMs));
  await em.nativeDelete(LabLogin, { expiresAt: { $lt: new Date() } });
  if (replaces) await em.nativeDelete(LabLogin, { id: replaces.id });
  const login = em.create(LabLogin, {
    id: hash(value),
    user: identity.user ?? null,
    operator: identity.operator ?? false,
    csrfToken: token(),
    returnTo: identity.returnTo ?? null,
    expiresAt,
  });
  await em.flush();
  setCookie(ctx, settings, value, expiresAt);
  return login;
}

/** The pending OpenID Connect checks of a redirect to the provider, kept until the callback. */
export async function rememberOidc(em: EntityManager, login: LabLogin, oidc: PendingOidc): Promise<void> {
  login.oidc = oidc;
  await em.flush();
}

/** Logging out: the row goes, and the cookie with it. */
export async function endLogin(
  em: EntityManager,
  ctx: Koa.Context,
  settings: LabSettings,
  login: LabLogin,
): Promise<void> {
  await em.nativeDelete(LabLogin, { id: login.id });
  setCookie(ctx, settings, null, new Date(0));
}
