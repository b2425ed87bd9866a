/**
 * Pulling a record now (POST /redcap/configs/:configId/records/:record/pull, `npm run cli -- pull`, the lab pages):
 * the intake a Data Entry Trigger would have started, for a record whose trigger never came (an import, a DET URL
 * typed wrong, the service down), without waiting for the next reconciliation.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { RedcapConfig } from '../db/entities';
import { BadRequestError, NotFoundError, UnavailableError } from '../errors';
import type { Logger } from '../logger';
import { refineStorable } from '../storable-text';
import { startRedcapIntake, type StartedIntake } from '../temporal/intakes';

/** What may name a record: as the trigger's fields (src/redcap/det.ts) allow. */
export const pullSchema = z
  .object({
    record: z.string().trim().min(1).max(200).superRefine(refineStorable),
    event: z.string().trim().min(1).max(100).superRefine(refineStorable).nullish(),
    instance: z.number().int().min(1).max(2_147_483_647).nullish(),
  })
  .strict();

export type PullRequest = z.infer<typeof pullSchema>;

/** A REDCap config id as a path or option gives it. */
export function parseConfigId(value: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value.trim()))
    throw new BadRequestError(`"${value}" is not a REDCap config id (a whole number)`, { configId: value });
  return Number(value);
}

/**
 * Starts (or joins) the record's intake, exactly as its trigger would (same workflow id and rules); throws NotFoundError
 * for an unknown config, and what the Temporal client throws (the caller bounds and maps it).
 */
export async function pullRecord(
  deps: { temporal: Client; config: { taskQueue: string } },
  em: EntityManager,
  configId: number,
  request: PullRequest,
): Promise<StartedIntake> {
  const config = await em.findOne(RedcapConfig, configId);
  if (!config) throw new NotFoundError(`No REDCap config ${configId}`, { configId });
  return startRedcapIntake(
    deps.temporal,
    deps.config.taskQueue,
    config,
    { configId, record: request.record, eventName: request.event ?? null, instance: request.instance ?? null },
    { startedBy: 'pull' },
  );
}

/** How long a pull waits for Temporal to take the start. */
const START_DEADLINE_MS = 5_000;

/**
 * pullRecord for a request (the JSON route, the lab pages' form): bounded, and Temporal not answering is a 503 that
 * says so (the record is not lost: a reconciliation or another pull starts it).
 */
export async function pullRecordNow(
  deps: { temporal: Client; config: { taskQueue: string } },
  em: EntityManager,
  configId: number,
  request: PullRequest,
  log: Logger,
): Promise<StartedIntake> {
  try {
    return await deps.temporal.connection.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      pullRecord(deps, em, configId, request),
    );
  } catch (err) {
    if (!isGrpcServiceError(err)) throw err;
    log.error({ err, configId }, 'could not start the intake of a pulled record');
    throw new UnavailableError('Temporal did not answer while starting the intake; try again when it is back', {
      unavailable: 'temporal',
    });
  }
}
