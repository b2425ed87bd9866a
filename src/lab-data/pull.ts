/**
 * Pulling a record now (POST /redcap/configs/:configId/records/:record/pull, `npm run cli -- pull`, the lab pages):
 * the intake a Data Entry Trigger would have started, for a record whose trigger never came (an import, a DET URL
 * typed wrong, the service down), without waiting for the next reconciliation.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { RedcapConfig } from '../db/entities';
import { BadRequestError, NotFoundError } from '../errors';
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
