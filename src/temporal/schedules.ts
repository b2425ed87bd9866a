/**
 * The reconciliation schedules (docs/temporal.md): one Temporal Schedule `redcap-reconcile:<configId>` per REDCap
 * config, running RedcapReconcileWorkflow every RECONCILE_INTERVAL, never two at once (overlap SKIP). Kept in step with
 * the database after `config apply` and when `npm start` or `npm run worker` starts: missing ones are created, changed
 * ones updated, all of them paused while RECONCILE_INTERVAL is `off`, and those of configs that are gone deleted. Safe
 * to run again; a schedule paused by hand in the Web UI stays paused.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import { REDCAP_RECONCILE_WORKFLOW, redcapReconcileScheduleId, type RedcapReconcileInput } from '../../surface';
import type { RedcapReconcileWorkflow } from '../../workflows/reconcile';
import type { Config } from '../config';
import { RedcapConfig } from '../db/entities';
import type { Orm } from '../db/orm';
import type { Logger } from '../logger';
import { describeDuration } from '../mail/templates';
import type { IntakeConfig } from './intakes';

/** The note on schedules we paused because RECONCILE_INTERVAL is off (a pause with another note is an operator's). */
const OFF_NOTE = 'Paused: RECONCILE_INTERVAL is off';

export interface ScheduleSettings {
  taskQueue: string;
  /** RECONCILE_INTERVAL; null: off. */
  intervalMs: number | null;
}

export interface ScheduleChange {
  scheduleId: string;
  action: 'created' | 'updated' | 'unchanged' | 'paused' | 'unpaused' | 'deleted' | 'not created';
  /** What the operator should know besides, e.g. "every 1 hour", "paused by hand". */
  detail: string;
}

/** Makes the schedules match `configs` (every REDCap config in the database). */
export async function syncReconcileSchedules(
  client: Client,
  settings: ScheduleSettings,
  configs: IntakeConfig[],
): Promise<ScheduleChange[]> {
  const changes: ScheduleChange[] = [];
  for (const config of configs) changes.push(await syncSchedule(client, settings, config));
  const wanted = new Set(configs.map((config) => redcapReconcileScheduleId(config.id)));
  changes.push(
    ...(await deleteSchedulesNotWanted(client, {
      ours: /^redcap-reconcile:\d+$/,
      wanted,
      taskQueue: settings.taskQueue,
      why: 'its REDCap config is no longer in the database',
    })),
  );
  return changes;
}

/** syncReconcileSchedules for every REDCap config in the database, with this process's settings. */
export async function syncReconcileSchedulesWith(orm: Orm, client: Client, config: Config): Promise<ScheduleChange[]> {
  const configs = await orm.em.fork().find(RedcapConfig, {}, { orderBy: { id: 'asc' } });
  return syncReconcileSchedules(
    client,
    { taskQueue: config.taskQueue, intervalMs: config.reconcile.intervalMs },
    configs,
  );
}

/** At the start of `npm start` and `npm run worker`: each change logged; a failure is logged, not fatal (the next start or config apply tries again). */
export async function syncReconcileSchedulesAtStart(
  orm: Orm,
  client: Client,
  config: Config,
  log: Logger,
): Promise<void> {
  try {
    for (const change of await syncReconcileSchedulesWith(orm, client, config))
      log.info({ ...change }, describeScheduleChange(change));
  } catch (err) {
    log.error({ err }, 'could not update the reconciliation schedules; the next start or config apply tries again');
  }
}

/** Deletes a config's schedule (none: nothing to do). */
export async function deleteReconcileSchedule(client: Client, configId: number): Promise<void> {
  await client.schedule.getHandle(redcapReconcileScheduleId(configId)).delete().catch(ignoreNotFound);
}

/** One line for the operator: `schedule redcap-reconcile:1: created (every 1 hour)`. */
export function describeScheduleChange(change: ScheduleChange): string {
  return `schedule ${change.scheduleId}: ${change.action}${change.detail ? ` (${change.detail})` : ''}`;
}

async function syncSchedule(client: Client, settings: ScheduleSettings, config: IntakeConfig): Promise<ScheduleChange> {
  const scheduleId = redcapReconcileScheduleId(config.id);
  const wanted = settings.intervalMs === null ? null : scheduleOptions(config, settings.taskQueue, settings.intervalMs);
  return keepSchedule(client, scheduleId, wanted, {
    offNote: OFF_NOTE,
    offReason: 'RECONCILE_INTERVAL is off',
    onReason: 'RECONCILE_INTERVAL is set again',
    detail: settings.intervalMs === null ? '' : `every ${describeDuration(settings.intervalMs)}`,
    isStale,
  });
}

/** How keepSchedule handles one kind of schedule. */
export interface ScheduleUpkeep {
  /** The note on schedules we paused because their setting is off (a pause with another note is an operator's). */
  offNote: string;
  /** Why it is off, and that it is on again, for the report and the unpause note. */
  offReason: string;
  onReason: string;
  /** What the operator should know of the schedule wanted, e.g. "every 1 hour". */
  detail: string;
  /** True when the existing schedule's spec, action or policies are not those wanted. */
  isStale(existing: ScheduleDescription, wanted: ScheduleOptions): boolean;
}

/**
 * Makes one schedule what is wanted: created when missing, updated when stale (a pause stays), paused with
 * `offNote` while `wanted` is null (off), unpaused when it is wanted again; a schedule paused by hand stays paused.
 */
export async function keepSchedule(
  client: Client,
  scheduleId: string,
  wanted: ScheduleOptions | null,
  upkeep: ScheduleUpkeep,
): Promise<ScheduleChange> {
  const handle = client.schedule.getHandle(scheduleId);
  let existing = await handle.describe().catch(ignoreNotFound);

  if (wanted === null) {
    if (!existing) return { scheduleId, action: 'not created', detail: upkeep.offReason };
    if (existing.state.paused)
      return { scheduleId, action: 'unchanged', detail: `paused: ${existing.state.note ?? ''}` };
    await handle.pause(upkeep.offNote);
    return { scheduleId, action: 'paused', detail: upkeep.offReason };
  }

  const { detail } = upkeep;
  if (!existing) {
    try {
      await client.schedule.create(wanted);
      return { scheduleId, action: 'created', detail };
    } catch (err) {
      // Created meanwhile by another process starting: make sure it is as wanted.
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      existing = await handle.describe();
    }
  }
  const stale = upkeep.isStale(existing, wanted);
  if (stale) {
    const { scheduleId: _id, memo: _memo, state: _state, ...update } = wanted;
    await handle.update((previous) => ({
      ...update,
      state: { paused: previous.state.paused, note: previous.state.note },
    }));
  }
  if (existing.state.paused && existing.state.note === upkeep.offNote) {
    await handle.unpause(upkeep.onReason);
    return { scheduleId, action: 'unpaused', detail };
  }
  if (existing.state.paused)
    return {
      scheduleId,
      action: stale ? 'updated' : 'unchanged',
      detail: `${detail}; paused by hand: ${existing.state.note ?? ''}`,
    };
  return { scheduleId, action: stale ? 'updated' : 'unchanged', detail };
}

/**
 * Deletes our schedules of one kind (`ours`) that are not wanted any more: only those of this task queue (another
 * deployment may share the namespace).
 */
export async function deleteSchedulesNotWanted(
  client: Client,
  options: { ours: RegExp; wanted: Set<string>; taskQueue: string; why: string },
): Promise<ScheduleChange[]> {
  const changes: ScheduleChange[] = [];
  for await (const schedule of client.schedule.list()) {
    if (
      !options.ours.test(schedule.scheduleId) ||
      options.wanted.has(schedule.scheduleId) ||
      schedule.memo?.taskQueue !== options.taskQueue
    )
      continue;
    await client.schedule.getHandle(schedule.scheduleId).delete().catch(ignoreNotFound);
    changes.push({ scheduleId: schedule.scheduleId, action: 'deleted', detail: options.why });
  }
  return changes;
}

function scheduleOptions(
  config: IntakeConfig,
  taskQueue: string,
  intervalMs: number,
): ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof RedcapReconcileWorkflow>> {
  const scheduleId = redcapReconcileScheduleId(config.id);
  const input: RedcapReconcileInput = { configId: config.id };
  const what = `REDCap project ${config.project} (${config.instrument}) at ${config.url}`;
  return {
    scheduleId,
    spec: { intervals: [{ every: intervalMs }] },
    action: {
      type: 'startWorkflow',
      workflowType: REDCAP_RECONCILE_WORKFLOW,
      workflowId: scheduleId,
      taskQueue,
      args: [input],
      memo: { configId: config.id, redcapUrl: config.url, project: config.project, instrument: config.instrument },
      staticSummary: `Reconciliation of ${what}`,
    },
    // A run missed while Temporal was down is made up once; the next run reaches back to the last success anyway.
    policies: {
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: Math.max(intervalMs, 60_000),
      pauseOnFailure: false,
    },
    memo: {
      configId: config.id,
      redcapUrl: config.url,
      project: config.project,
      instrument: config.instrument,
      taskQueue,
    },
  };
}

/** True when the schedule's spec, action or policies are not those wanted (its memo never changes for a config). */
function isStale(existing: ScheduleDescription, wanted: ScheduleOptions): boolean {
  const action = existing.action;
  const wantedAction = wanted.action;
  return (
    existing.spec.intervals?.length !== 1 ||
    existing.spec.intervals[0].every !== Math.round(Number(wanted.spec.intervals![0].every) / 1000) * 1000 ||
    (existing.spec.calendars?.length ?? 0) > 0 ||
    action.type !== 'startWorkflow' ||
    action.workflowType !== wantedAction.workflowType ||
    action.taskQueue !== wantedAction.taskQueue ||
    JSON.stringify(action.args) !== JSON.stringify(wantedAction.args) ||
    existing.policies.overlap !== wanted.policies!.overlap ||
    existing.policies.catchupWindow !== wanted.policies!.catchupWindow
  );
}

export function ignoreNotFound(err: unknown): undefined {
  if (err instanceof ScheduleNotFoundError) return undefined;
  throw err;
}
