/** Routes REDCap and its users call: the Data Entry Trigger and the redirect to a record. */
import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { RedcapIntakeInput } from '../../surface';
import type { AppDeps } from '../app-deps';
import { secretsEqual } from '../auth';
import { bearerOrLabLogin, seesRecord } from '../lab/access';
import type { Viewer } from '../lab/viewer';
import { limitedBody } from '../request-body';
import { RedcapConfig, RedcapRecord } from '../db/entities';
import { requestEm } from '../db/orm';
import { DomainError, ForbiddenError, NotFoundError, UnavailableError, errorResponse } from '../errors';
import { logger as defaultLogger, type Logger } from '../logger';
import { triggersTotal } from '../metrics';
import { startRedcapIntake } from '../temporal/intakes';
import { RedcapConfigCache } from './config-cache';
import { flattenFields, incompleteReason, parseDataEntryTrigger } from './det';
import { redcapRecordUrl } from './urls';

/** The largest DET body we read; REDCap's are a few hundred bytes. */
const DET_BODY_LIMIT = '100kb';
/** Bounds on what a trigger waits for: a dead database or Temporal is a 503, never a hung request. */
const DATABASE_TIMEOUT_MS = 10_000;
/**
 * The gRPC deadline of the start call. The SDK retries UNAVAILABLE with backoff (at most 6 s between tries), so
 * the call settles by TEMPORAL_DEADLINE_MS + 6 s; the outer bound is only a safety net behind that.
 */
const TEMPORAL_DEADLINE_MS = 5_000;
const TEMPORAL_TIMEOUT_MS = TEMPORAL_DEADLINE_MS + 7_000;

export function redcapRouter(deps: AppDeps): Router {
  const log = (deps.logger ?? defaultLogger).child({ component: 'redcap' });
  const router = new Router();
  // Without a watched cache (tests, tools) every trigger reads its config from the database.
  const configs = deps.redcapConfigs ?? new RedcapConfigCache();

  /** Counts every trigger and its outcome (redcap_triggers_total). */
  const countOutcome: Middleware = async (ctx, next) => {
    triggersTotal.inc({ outcome: 'received' });
    try {
      await next();
      const status = (ctx.body as { status?: string } | undefined)?.status;
      triggersTotal.inc({ outcome: status === 'accepted' ? 'accepted' : status === 'ignored' ? 'ignored' : 'failed' });
    } catch (err) {
      triggersTotal.inc({ outcome: errorResponse(err).status >= 500 ? 'failed' : 'rejected' });
      throw err;
    }
  };

  /** DET_SECRET, when set, must come as ?secret= (REDCap cannot send headers). Checked before the body is read. */
  const checkSecret: Middleware = async (ctx, next) => {
    const expected = deps.config.detSecret;
    if (expected) {
      const given = ctx.query.secret;
      if (typeof given !== 'string' || !secretsEqual(given, expected)) {
        throw new ForbiddenError('Missing or wrong ?secret= on the Data Entry Trigger URL (DET_SECRET is set)');
      }
    }
    await next();
  };

  const readBody = limitedBody(
    ['form', 'json'],
    DET_BODY_LIMIT,
    '; a REDCap Data Entry Trigger is a few hundred bytes',
  );

  router.post('/redcap', countOutcome, checkSecret, readBody, async (ctx) => {
    // Forms are read flat from the raw body (no nesting of keys like a[b]); JSON bodies are accepted too.
    const fields = ctx.request.is('application/x-www-form-urlencoded')
      ? Object.fromEntries(new URLSearchParams(ctx.request.rawBody ?? ''))
      : flattenFields(ctx.request.body);
    const trigger = parseDataEntryTrigger(fields);
    const where = {
      redcapUrl: trigger.redcapUrl,
      project: trigger.projectId,
      instrument: trigger.instrument,
      record: trigger.record,
      eventName: trigger.eventName,
      instance: trigger.instance,
    };

    const em = requestEm(deps.orm);
    const key = { url: trigger.redcapUrl, project: trigger.projectId, instrument: trigger.instrument };
    const config = await bounded(log, 'database', 'look up the REDCap config', DATABASE_TIMEOUT_MS, () =>
      configs.get(key, () => em.findOne(RedcapConfig, key)),
    );
    if (!config) {
      const reason = `No REDCap config for project ${trigger.projectId}, instrument ${trigger.instrument} at ${trigger.redcapUrl}`;
      log.info(where, `trigger ignored: ${reason}`);
      ctx.body = { status: 'ignored', reason };
      return;
    }
    const incomplete = incompleteReason(trigger, config);
    if (incomplete) {
      log.info(where, `trigger ignored: ${incomplete}`);
      ctx.body = { status: 'ignored', reason: incomplete };
      return;
    }

    // REDCap's version, for record links, when it is news: the intake notes it once REDCap has answered for the
    // record with the lab's token, so a forged project_url changes nothing.
    const version = trigger.redcapVersion;
    const input: RedcapIntakeInput = {
      configId: config.id,
      record: trigger.record,
      eventName: trigger.eventName ?? null,
      instance: trigger.instance ?? null,
      ...(version && version !== config.detVersion ? { redcapVersion: version } : {}),
    };
    const { workflowId } = await bounded(log, 'temporal', 'start the intake workflow', TEMPORAL_TIMEOUT_MS, () =>
      // The gRPC deadline ends the call (and its retries) before the outer bound gives up on it.
      deps.temporal.connection.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, () =>
        startRedcapIntake(deps.temporal, deps.config.taskQueue, config, input),
      ),
    );
    log.info({ ...where, workflowId }, 'trigger accepted');
    ctx.status = 202;
    ctx.body = { status: 'accepted', workflowId };
  });

  // The lab's pages link records here: a login to them counts as well as the bearer token.
  router.get('/redcap_redirect/:recordId', bearerOrLabLogin(deps), async (ctx) => {
    const { recordId } = ctx.params;
    const id = /^\d{1,9}$/.test(recordId) ? Number(recordId) : undefined;
    const em = requestEm(deps.orm);
    const viewer = (ctx.state as { viewer?: Viewer }).viewer;
    const record = id
      ? await bounded(log, 'database', 'look up the REDCap record', DATABASE_TIMEOUT_MS, async () =>
          viewer && !(await seesRecord(em, viewer, id)) ? null : em.findOne(RedcapRecord, id, { populate: ['config'] }),
        )
      : null;
    if (!record)
      throw new NotFoundError(`No REDCap record ${recordId} (the id is ours, as shown by GET /sessions/:sessionId)`, {
        recordId,
      });
    ctx.redirect(
      redcapRecordUrl({
        config: record.config,
        record: record.record,
        eventId: record.eventId,
        instance: record.repeatInstance,
      }),
    );
  });

  return router;
}

/**
 * Runs a call to the database or Temporal with a time bound. A failure or a timeout is a 503 naming the service;
 * domain errors pass through.
 */
async function bounded<T>(
  log: Logger,
  service: 'database' | 'temporal',
  what: string,
  timeoutMs: number,
  call: () => Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const pending = call();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  pending.catch(() => undefined); // a late failure after the timeout is not an unhandled rejection
  try {
    return await Promise.race([pending, timeout]);
  } catch (err) {
    if (err instanceof DomainError) throw err;
    // The driver's message can hold the SQL and its values: it goes to the log, the caller gets the gist.
    log.error({ err, service }, `could not ${what}`);
    const name = service === 'database' ? 'Database' : 'Temporal';
    const reason =
      err instanceof TimeoutError
        ? err.message
        : ((err as { code?: unknown }).code ?? 'error; the details are in the service log');
    throw new UnavailableError(`${name} unavailable: could not ${what} (${String(reason)})`, { unavailable: service });
  } finally {
    clearTimeout(timer);
  }
}

class TimeoutError extends Error {}
