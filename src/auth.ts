/** Bearer-token guard for the admin endpoints: with API_TOKEN unset they refuse everyone (401). */
import { timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { UnauthorizedError } from './errors';

/** Constant-time comparison of two secrets. */
export function secretsEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function requireBearer(apiToken: string | undefined): Middleware {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!apiToken) throw new UnauthorizedError('Admin endpoints are disabled: set API_TOKEN to enable them');
    if (!match) throw new UnauthorizedError('Missing bearer token: send "Authorization: Bearer <API_TOKEN>"');
    if (!secretsEqual(match[1].trim(), apiToken)) throw new UnauthorizedError('Invalid bearer token');
    await next();
  };
}
