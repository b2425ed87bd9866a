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
  for await (const schedule of client.schedule.list()) {
    // Only ours (this task queue: another deployment may share the namespace), and only those whose config is gone.
    if (
      !/^redcap-reconcile:\d+$/.test(schedule.scheduleId) ||
      wanted.has(schedule.scheduleId) ||
      schedule.memo?.taskQueue !== settings.taskQueue
    )
      continue;
    await client.schedule.getHandle(schedule.scheduleId).delete().catch(ignoreNotFound);
    changes.push({
      scheduleId: schedule.scheduleId,
      action: 'deleted',
      detail: 'its REDCap config is no longer in the database',
    });
  }
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
  const handle = client.schedule.getHandle(scheduleId);
  let existing = await handle.describe().catch(ignoreNotFound);

  if (settings.intervalMs === null) {
    if (!existing) return { scheduleId, action: 'not created', detail: 'RECONCILE_INTERVAL is off' };
    if (existing.state.paused)
      return { scheduleId, action: 'unchanged', detail: `paused: ${existing.state.note ?? ''}` };
    await handle.pause(OFF_NOTE);
    return { scheduleId, action: 'paused', detail: 'RECONCILE_INTERVAL is off' };
  }

  const wanted = scheduleOptions(config, settings.taskQueue, settings.intervalMs);
  const every = `every ${describeDuration(settings.intervalMs)}`;
  if (!existing) {
    try {
      await client.schedule.create(wanted);
      return { scheduleId, action: 'created', detail: every };
    } catch (err) {
      // Created meanwhile by another process starting: make sure it is as wanted.
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      existing = await handle.describe();
    }
  }
  const stale = isStale(existing, wanted);
  if (stale) {
    const { scheduleId: _id, memo: _memo, state: _state, ...update } = wanted;
    await handle.update((previous) => ({
      ...update,
      state: { paused: previous.state.paused, note: previous.state.note },
    }));
  }
  if (existing.state.paused && existing.state.note === OFF_NOTE) {
    await handle.unpause('RECONCILE_INTERVAL is set again');
    return { scheduleId, action: 'unpaused', detail: every };
  }
  if (existing.state.paused)
    return {
      scheduleId,
      action: stale ? 'updated' : 'unchanged',
      detail: `${every}; paused by hand: ${existing.state.note ?? ''}`,
    };
  return { scheduleId, action: stale ? 'updated' : 'unchanged', detail: every };
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

function ignoreNotFound(err: unknown): undefined {
  if (err instanceof ScheduleNotFoundError) return undefined;
  throw err;
}
