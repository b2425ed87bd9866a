/** Request bodies read with a size limit: over it is a 413 that says the limit (and why, where it helps). */
import { bodyParser } from '@koa/bodyparser';
import type { Middleware } from 'koa';
import type { z } from 'zod';
import { BadRequestError, DomainError } from './errors';

export class PayloadTooLargeError extends DomainError {
  override readonly status = 413;
}

/** Reads a `types` body of at most `limit` (e.g. '100kb') into ctx.request.body (and rawBody). */
export function limitedBody(types: Array<'form' | 'json'>, limit: string, hint = ''): Middleware {
  const parse = bodyParser({ enableTypes: types, formLimit: limit, jsonLimit: limit });
  return async (ctx, next) => {
    try {
      await parse(ctx, async () => undefined);
    } catch (err) {
      if ((err as { status?: number }).status === 413)
        throw new PayloadTooLargeError(`Body over ${limit.replace('kb', ' kB')}${hint}`);
      throw err;
    }
    await next();
  };
}

/** The JSON body, validated: a problem is a 400 that names each field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  throw new BadRequestError(`Invalid body: ${problems.join('; ')}`, { problems });
}
