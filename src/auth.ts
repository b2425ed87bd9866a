/** Bearer-token guard for the admin endpoints: with API_TOKEN unset they refuse everyone (401). */
import { timingSafeEqual } from 'node:crypto';
import type { Middleware, ParameterizedContext } from 'koa';
import { ForbiddenError, UnauthorizedError } from './errors';
import { checkScanToken, isScanToken } from './jobs/scan-token';
import { parseSessionId } from './sessions/ids';

/** Constant-time comparison of two secrets. */
export function secretsEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The bearer token of a request; throws the 401 when admin endpoints are off or none was sent. */
function bearerOf(ctx: ParameterizedContext, apiToken: string | undefined): { given: string; apiToken: string } {
  const match = /^Bearer\s+(.+)$/i.exec(ctx.get('authorization'));
  if (!apiToken) throw new UnauthorizedError('Admin endpoints are disabled: set API_TOKEN to enable them');
  if (!match) throw new UnauthorizedError('Missing bearer token: send "Authorization: Bearer <API_TOKEN>"');
  return { given: match[1].trim(), apiToken };
}

export function requireBearer(apiToken: string | undefined): Middleware {
  return async (ctx, next) => {
    const { given, apiToken: expected } = bearerOf(ctx, apiToken);
    if (!secretsEqual(given, expected)) throw new UnauthorizedError('Invalid bearer token');
    await next();
  };
}

/**
 * For POST /sessions/:sessionId/scans: the admin token, or a job's scan token (src/jobs/scan-token.ts) for that very
 * session, unexpired. A scan token for another session is a 403.
 */
export function requireBearerOrScanToken(apiToken: string | undefined): Middleware {
  return async (ctx, next) => {
    const { given, apiToken: key } = bearerOf(ctx, apiToken);
    if (!isScanToken(given)) {
      if (!secretsEqual(given, key)) throw new UnauthorizedError('Invalid bearer token');
      return next();
    }
    let sessionId: string;
    try {
      sessionId = parseSessionId(String((ctx.params as Record<string, string>).sessionId)).sessionId;
    } catch {
      sessionId = '';
    }
    const check = checkScanToken(key, given, sessionId);
    if (check.valid) return next();
    if (check.reason === 'expired')
      throw new UnauthorizedError(`The job's scan token expired at ${check.expiredAt.toISOString()}`);
    if (check.reason === 'other-session')
      throw new ForbiddenError(`This job's scan token registers scans of session ${check.sessionId} only`);
    throw new UnauthorizedError('Invalid bearer token');
  };
}
