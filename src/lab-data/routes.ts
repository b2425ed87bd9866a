/**
 * The lab's view as JSON (docs/http-api.md "What needs a person"), all behind the bearer token: the list of sessions,
 * a study's outstanding work (also as CSV), dismissals and their undo, and pulling a REDCap record. Each route only
 * reads its input and calls the function the lab pages call too.
 */
import Router from '@koa/router';
import { isGrpcServiceError } from '@temporalio/client';
import { z } from 'zod';
import type { AppDeps } from '../app-deps';
import { requestEm } from '../db/orm';
import { requireBearer } from '../auth';
import { DISMISSAL_KINDS, type DismissalKind } from '../db/lab-data';
import { BadRequestError, UnavailableError } from '../errors';
import { logger as defaultLogger } from '../logger';
import { limitedBody, parseBody } from '../request-body';
import { refineStorable } from '../storable-text';
import { dismissSession, undoDismissal } from './dismissals';
import { listSessions, parseListQuery } from './list';
import { outstandingCsv, studyOutstanding } from './outstanding';
import { parseConfigId, pullRecord, pullSchema } from './pull';

const BODY_LIMIT = '100kb';

/** Who a bearer caller is, for the dismissals it makes (the lab pages pass the logged-in user instead). */
export const BEARER_CALLER = 'API_TOKEN';

const dismissalBody = z
  .object({
    kind: z.enum(DISMISSAL_KINDS, {
      errorMap: () => ({ message: `kind must be one of ${DISMISSAL_KINDS.join(', ')}` }),
    }),
    comment: z
      .string({ required_error: 'a comment is required: say why' })
      .trim()
      .min(1, 'a comment is required: say why')
      .max(2_000)
      .superRefine(refineStorable),
  })
  .strict();

const pullBody = pullSchema.omit({ record: true });

function dismissalKind(value: string): DismissalKind {
  if ((DISMISSAL_KINDS as readonly string[]).includes(value)) return value as DismissalKind;
  throw new BadRequestError(`Unknown dismissal kind "${value}" (the kinds: ${DISMISSAL_KINDS.join(', ')})`, {
    kind: value,
  });
}

export function labDataRouter(deps: AppDeps): Router {
  const log = (deps.logger ?? defaultLogger).child({ component: 'lab-data' });
  // Strict: GET /sessions/ is no list (GET /sessions/:id with an empty id: a 404, as before this route).
  const router = new Router({ strict: true });
  const auth = requireBearer(deps.config.apiToken);
  const json = limitedBody(['json'], BODY_LIMIT);
  const em = () => requestEm(deps.orm);

  router.get('/sessions', auth, async (ctx) => {
    ctx.body = await listSessions(em(), parseListQuery(ctx.query));
  });

  router.get('/studies/:studyId/outstanding', auth, async (ctx) => {
    const format = ctx.query.format ?? 'json';
    if (format !== 'json' && format !== 'csv')
      throw new BadRequestError(`format must be json or csv, not ${JSON.stringify(format)}`, { format });
    const outstanding = await studyOutstanding(em(), ctx.params.studyId);
    if (format === 'json') {
      ctx.body = outstanding;
      return;
    }
    ctx.type = 'text/csv; charset=utf-8';
    ctx.attachment(`${outstanding.studyId}-outstanding-${outstanding.at.slice(0, 10)}.csv`, { type: 'inline' });
    ctx.body = outstandingCsv(outstanding);
  });

  router.post('/sessions/:sessionId/dismissals', auth, json, async (ctx) => {
    const body = parseBody(dismissalBody, ctx.request.body);
    const result = await dismissSession(deps, em(), ctx.params.sessionId, body, BEARER_CALLER);
    if (result.created) log.info({ sessionId: result.sessionId, kind: body.kind }, 'session dismissed');
    ctx.status = result.created ? 201 : 200;
    ctx.body = result;
  });

  router.delete('/sessions/:sessionId/dismissals/:kind', auth, async (ctx) => {
    const result = await undoDismissal(deps, em(), ctx.params.sessionId, dismissalKind(ctx.params.kind));
    log.info({ sessionId: result.sessionId, kind: ctx.params.kind, by: BEARER_CALLER }, 'dismissal undone');
    ctx.body = result;
  });

  router.post('/redcap/configs/:configId/records/:record/pull', auth, json, async (ctx) => {
    const configId = parseConfigId(ctx.params.configId);
    const body = parseBody(pullBody, ctx.request.body);
    const request = parseBody(pullSchema, { ...body, record: ctx.params.record });
    try {
      const { workflowId } = await deps.temporal.connection.withDeadline(Date.now() + 5_000, () =>
        pullRecord(deps, em(), configId, request),
      );
      log.info({ configId, workflowId }, 'record pulled');
      ctx.status = 202;
      ctx.body = { status: 'accepted', workflowId };
    } catch (err) {
      if (!isGrpcServiceError(err)) throw err;
      log.error({ err, configId }, 'could not start the intake of a pulled record');
      throw new UnavailableError('Temporal did not answer while starting the intake; try again when it is back', {
        unavailable: 'temporal',
      });
    }
  });

  return router;
}
