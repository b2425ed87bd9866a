/**
 * The codec server (`npm run codec-server`): Temporal's codec server protocol over HTTP, so that operators who hold
 * the token can read encrypted payloads in the Web UI and with the Temporal CLI. `POST /decode` and `POST /encode`
 * take and answer `{"payloads": [{"metadata": {key: base64}, "data": base64}]}` (the Web UI's and CLI's JSON form of
 * a payload) and run them through the service's codec (src/temporal/data-converter.ts).
 *
 * Every call needs CODEC_SERVER_TOKEN: as `Authorization: Bearer <token>` (the CLI's `--codec-auth`), or as the first
 * path segment, `/<token>/decode` (the Web UI sends no header of ours: its codec endpoint is then
 * `http://host:port/<token>`). CORS answers the Web UI's origins (CODEC_CORS_ORIGINS) only.
 */
import Koa from 'koa';
import Router from '@koa/router';
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import { secretsEqual } from '../auth';
import { BadRequestError, ForbiddenError, UnauthorizedError } from '../errors';
import { errorResponse } from '../errors';
import type { Logger } from '../logger';
import { limitedBody } from '../request-body';
import { EncryptionCodec, type CodecKey } from './data-converter';

export interface CodecServerOptions {
  keys: CodecKey[];
  token: string;
  /** Origins of the Web UI, e.g. http://127.0.0.1:8233. */
  corsOrigins: string[];
  logger: Logger;
}

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const body = z.object({
  payloads: z.array(z.object({ metadata: z.record(base64).nullish(), data: base64.nullish() }).strict()),
});
type JsonPayload = z.infer<typeof body>['payloads'][number];

const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(data ?? '', 'base64'),
});
const toJson = ({ metadata, data }: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(data ?? []).toString('base64'),
});

export function createCodecApp(options: CodecServerOptions): Koa {
  const codec = new EncryptionCodec(options.keys);
  const app = new Koa();
  app.proxy = false;

  app.use(async (ctx, next) => {
    // CORS for the Web UI, whose page runs on another origin; a preflight carries no credentials, so it needs none.
    const origin = ctx.get('origin');
    const allowed = origin !== '' && options.corsOrigins.includes(origin);
    ctx.vary('Origin');
    if (allowed) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Credentials', 'true');
    }
    if (ctx.method === 'OPTIONS') {
      if (!allowed) {
        ctx.status = 403;
        ctx.body = { error: `Origin ${origin || '(none)'} is not in CODEC_CORS_ORIGINS` };
        return;
      }
      ctx.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
      ctx.set('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization, Authorization-Extras');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) ctx.body = { error: `No route for ${ctx.method} ${ctx.path}` };
    } catch (err) {
      const { status, body: answer } = errorResponse(err);
      ctx.status = status;
      ctx.body = answer;
      if (status >= 500) options.logger.error({ err, method: ctx.method }, 'codec request failed');
    }
  });

  const authorized = (pathToken: string | undefined, header: string) => {
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const given = pathToken ?? bearer;
    if (given === undefined)
      throw new UnauthorizedError('Missing token: send "Authorization: Bearer <CODEC_SERVER_TOKEN>"');
    if (!secretsEqual(given, options.token)) throw new ForbiddenError('Invalid codec server token');
  };

  const router = new Router();
  const json = limitedBody(['json'], '8mb');
  for (const action of ['encode', 'decode'] as const) {
    const handle: Router.Middleware = async (ctx) => {
      authorized(ctx.params.token, ctx.get('authorization'));
      const parsed = body.safeParse(ctx.request.body);
      if (!parsed.success)
        throw new BadRequestError('The body must be {"payloads": [{"metadata": {…}, "data": "<base64>"}, …]}');
      const payloads = parsed.data.payloads.map(fromJson);
      let result: Payload[];
      try {
        result = action === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
      } catch (err) {
        throw new BadRequestError(err instanceof Error ? err.message : String(err));
      }
      ctx.body = { payloads: result.map(toJson) };
    };
    router.post(`/${action}`, json, handle);
    router.post(`/:token/${action}`, json, handle);
  }
  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
