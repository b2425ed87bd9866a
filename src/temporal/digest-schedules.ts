/**
 * The digest schedules (docs/temporal.md): one Temporal Schedule `lab-digest:<studyId>` per study, running
 * LabDigestWorkflow every day at DIGEST_AT in TZ, never two at once. Kept in step with the database as the
 * reconciliation schedules are (src/temporal/schedules.ts): after `config apply` and when `npm start` or `npm run
 * worker` starts; paused while DIGEST_AT is `off`; those of studies that are gone deleted.
 */
import {
  ScheduleOverlapPolicy,
  type CalendarSpecDescription,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
} from '@temporalio/client';
import { LAB_DIGEST_WORKFLOW, labDigestScheduleId, type LabDigestInput } from '../../surface';
import type { Config } from '../config';
import { Study } from '../db/entities';
import type { Orm } from '../db/orm';
import type { Logger } from '../logger';
import {
  deleteSchedulesNotWanted,
  describeScheduleChange,
  ignoreNotFound,
  keepSchedule,
  type ScheduleChange,
} from './schedules';

const OFF_NOTE = 'Paused: DIGEST_AT is off';

export interface DigestScheduleSettings {
  taskQueue: string;
  /** DIGEST_AT; null: off. */
  at: { hour: number; minute: number } | null;
  timeZone: string;
}

const hhmm = (at: { hour: number; minute: number }) =>
  `${String(at.hour).padStart(2, '0')}:${String(at.minute).padStart(2, '0')}`;

/** Makes the digest schedules match `studies` (every study in the database). */
export async function syncDigestSchedules(
  client: Client,
  settings: DigestScheduleSettings,
  studies: Array<{ id: string; name: string }>,
): Promise<ScheduleChange[]> {
  const changes: ScheduleChange[] = [];
  for (const study of studies) {
    const wanted = settings.at ? scheduleOptions(study, settings.taskQueue, settings.at, settings.timeZone) : null;
    changes.push(
      await keepSchedule(client, labDigestScheduleId(study.id), wanted, {
        offNote: OFF_NOTE,
        offReason: 'DIGEST_AT is off',
        onReason: 'DIGEST_AT is set again',
        detail: settings.at ? `daily at ${hhmm(settings.at)} ${settings.timeZone}` : '',
        isStale,
      }),
    );
  }
  changes.push(
    ...(await deleteSchedulesNotWanted(client, {
      ours: /^lab-digest:[A-Z0-9]+$/,
      wanted: new Set(studies.map((study) => labDigestScheduleId(study.id))),
      taskQueue: settings.taskQueue,
      why: 'its study is no longer in the database',
    })),
  );
  return changes;
}

/** syncDigestSchedules for every study in the database, with this process's settings. */
export async function syncDigestSchedulesWith(orm: Orm, client: Client, config: Config): Promise<ScheduleChange[]> {
  const studies = await orm.em.fork().find(Study, {}, { orderBy: { id: 'asc' } });
  return syncDigestSchedules(
    client,
    { taskQueue: config.taskQueue, at: config.digest.at, timeZone: config.digest.timeZone },
    studies,
  );
}

/** At the start of `npm start` and `npm run worker`: each change logged; a failure is logged, not fatal. */
export async function syncDigestSchedulesAtStart(orm: Orm, client: Client, config: Config, log: Logger): Promise<void> {
  try {
    for (const change of await syncDigestSchedulesWith(orm, client, config))
      log.info({ ...change }, describeScheduleChange(change));
  } catch (err) {
    log.error({ err }, 'could not update the digest schedules; the next start or config apply tries again');
  }
}

/** Deletes a study's schedule (none: nothing to do). */
export async function deleteDigestSchedule(client: Client, studyId: string): Promise<void> {
  await client.schedule.getHandle(labDigestScheduleId(studyId)).delete().catch(ignoreNotFound);
}

function scheduleOptions(
  study: { id: string; name: string },
  taskQueue: string,
  at: { hour: number; minute: number },
  timeZone: string,
): ScheduleOptions {
  const scheduleId = labDigestScheduleId(study.id);
  const input: LabDigestInput = { studyId: study.id };
  return {
    scheduleId,
    spec: { calendars: [{ hour: at.hour, minute: at.minute, comment: `DIGEST_AT ${hhmm(at)}` }], timezone: timeZone },
    action: {
      type: 'startWorkflow',
      workflowType: LAB_DIGEST_WORKFLOW,
      workflowId: scheduleId,
      taskQueue,
      args: [input],
      memo: { studyId: study.id },
      staticSummary: `Daily scan report of ${study.id} (${study.name})`,
    },
    // A digest missed while Temporal was down goes out when it is back, the same day; a second one that day never does.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '12 hours', pauseOnFailure: false },
    memo: { studyId: study.id, taskQueue },
  };
}

/** A calendar field as the server describes it: one value, e.g. `[{start: 8, end: 8, step: 1}]`. */
const single = (ranges: CalendarSpecDescription['hour'] | undefined, value: number) =>
  ranges?.length === 1 && ranges[0].start === value && (ranges[0].end ?? value) === value;

function isStale(existing: ScheduleDescription, wanted: ScheduleOptions): boolean {
  const calendar = wanted.spec.calendars![0];
  const have = existing.spec.calendars ?? [];
  const action = existing.action;
  return (
    have.length !== 1 ||
    (existing.spec.intervals?.length ?? 0) > 0 ||
    !single(have[0].hour, Number(calendar.hour)) ||
    !single(have[0].minute, Number(calendar.minute)) ||
    (existing.spec.timezone ?? 'UTC') !== wanted.spec.timezone ||
    action.type !== 'startWorkflow' ||
    action.workflowType !== wanted.action.workflowType ||
    action.taskQueue !== wanted.action.taskQueue ||
    JSON.stringify(action.args) !== JSON.stringify(wanted.action.args) ||
    existing.policies.overlap !== wanted.policies!.overlap
  );
}
