/**
 * Activities of RedcapReconcileWorkflow: ask REDCap which records changed, read them a page at a time, compare each
 * completed row with what is filed, and start the intake a trigger would have started where they differ.
 *
 * The pages are worked through in one activity that heartbeats its progress: a retry (REDCap 5xx, a worker that
 * died) goes on from the last pages done, the workflow's history does not grow with the number of records, and no
 * page waits in the task queue behind the intakes the earlier pages started.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import { RedcapConfig, RedcapRecord, ReconcileState } from '../src/db/entities';
import { IntakeFailure } from '../src/db/intake-failure';
import { triggersMissed } from '../src/lab-data/problems';
import { missedTriggersEmail } from '../src/mail/templates';
import { missedTriggersTotal } from '../src/metrics';
import { RedcapClient, RedcapError } from '../src/redcap/client';
import {
  describeRow,
  differsFromFiled,
  exportedFields,
  identityKey,
  isCompleted,
  needsIntake,
  ofInstrument,
  readRow,
  reconcileWindow,
  rowDigest,
  rowIdentity,
  storedIdentity,
  type FiledEntry,
  type ClosedIntake,
  type IntakeSeen,
  type RowProblem,
} from '../src/redcap/reconcile';
import { findRedcapIntake, startRedcapIntake } from '../src/temporal/intakes';
import { deleteReconcileSchedule } from '../src/temporal/schedules';
import { redcapReconcileScheduleId, type IntakeTrigger, type RedcapReconcileResult } from '../surface';
import type { ActivityDeps } from './deps';
import { createMailActivities, type AdminEmail } from './mail';

/** Where a reconciliation is: what the workflow hands from one activity to the next, and the heartbeat's checkpoint. */
export interface ReconcileProgress {
  /** When the reconciliation began (ISO): on success, changes before it have all been seen. */
  startedAt: string;
  /** REDCap's dateRangeBegin, `YYYY-MM-DD HH:MM:SS`. */
  begin: string;
  /** True when this reconciliation reaches back to the previous successful one (or the lookback): its success counts. */
  coversGap: boolean;
  /** The project's record id field. */
  recordIdField: string;
  /** The last record done (records go in sorted order); null before the first. */
  after: string | null;
  totals: RedcapReconcileResult;
  /** Rows whose intake reconciliation started: how many, and the first few. */
  missed: { count: number; sample: string[] };
}

/** Records per Export Records call (`records[i]`). */
const PAGE = 100;
/** Pages worked on at once. */
const PARALLEL_PAGES = 4;
/** Rows of a page looked up in Temporal (and started) at once. */
const TEMPORAL_CONCURRENCY = 32;
/** Rows named in the email. */
const MISSED_SAMPLE = 20;
/** How often the progress is sent as a heartbeat (the activity's heartbeatTimeout is longer). */
const HEARTBEAT_MS = 2_000;

/** `redcap`: shared with the intakes, so the record id fields a run reads serve their exports too. */
export function createReconcileActivities(deps: ActivityDeps, redcap = new RedcapClient()) {
  const mail = createMailActivities(deps);
  const log = deps.logger.child({ component: 'reconcile' });

  /** The config, or a permanent failure (and its schedule deleted) when it is no longer in the database. */
  async function configOf(em: EntityManager, configId: number): Promise<RedcapConfig> {
    const config = await em.findOne(RedcapConfig, configId);
    if (config) return config;
    await deleteReconcileSchedule(deps.temporal, configId).catch((err) =>
      log.warn({ configId, err }, 'could not delete the schedule of a REDCap config that is gone'),
    );
    throw ApplicationFailure.nonRetryable(
      `REDCap config ${configId} no longer exists; its reconciliation schedule is deleted`,
      'RedcapConfigMissing',
    );
  }

  /** REDCap errors as Temporal failures: retried when REDCap may answer later, else the run fails with the reason. */
  async function askRedcap<T>(configId: number, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof RedcapError)) throw err;
      log.warn({ configId, type: err.type, retryable: err.retryable }, err.message);
      throw ApplicationFailure.create({
        message: err.message,
        type: err.type,
        nonRetryable: !err.retryable,
        details: [err.details],
      });
    }
  }

  /**
   * What Temporal knows of a row's intake, and for a failed run what our database says it decided (intake_failure),
   * or, for a run started before 0.3.0 that has no row there, what its history shows it read.
   */
  async function intakeSeen(trigger: IntakeTrigger): Promise<IntakeSeen> {
    const found = await findRedcapIntake(deps.temporal, trigger);
    if (!found) return { state: 'none' };
    const { memo, runId } = found.description;
    const status = found.description.status.name;
    if (status === 'RUNNING') return { state: 'running' };
    const rowDigest = memo?.rowDigest;
    const seen: ClosedIntake = { state: 'closed', status, ...(typeof rowDigest === 'string' ? { rowDigest } : {}) };
    if (status === 'COMPLETED') return seen;
    const [latest] = await deps.orm.em.fork().find(IntakeFailure, { runId }, { orderBy: { read: 'desc' }, limit: 1 });
    if (latest) return { ...seen, refusedDigest: latest.rowDigest ?? null };
    const history = await deps.temporal.workflow.getHandle(found.workflowId, runId).fetchHistory();
    return { ...seen, ...(await whatTheIntakeRead(history)) };
  }

  /**
   * From the history of a failed intake started before 0.3.0: the row its fetchRedcapRecord read, the type and field
   * of the problem a read failed with, and whether the run gave up (IntakeTimedOut).
   */
  async function whatTheIntakeRead(
    history: temporal.api.history.v1.IHistory,
  ): Promise<Pick<ClosedIntake, 'read' | 'problem' | 'gaveUp'>> {
    const converter = deps.temporal.options.loadedDataConverter;
    const reads = new Set<string>();
    const fetches = new Set<string>();
    let read: FiledEntry | undefined;
    let problem: RowProblem | undefined;
    let gaveUp = false;
    for (const event of history.events ?? []) {
      const name = event.activityTaskScheduledEventAttributes?.activityType?.name;
      if (name === 'fetchRedcapRecord' || name === 'readAndFileRedcapRecord') reads.add(String(event.eventId));
      if (name === 'fetchRedcapRecord') fetches.add(String(event.eventId));
      const completed = event.activityTaskCompletedEventAttributes;
      if (completed && fetches.has(String(completed.scheduledEventId)))
        read = await decodeFromPayloadsAtIndex<FiledEntry>(converter, 0, completed.result?.payloads);
      const failed = event.activityTaskFailedEventAttributes;
      const info = failed?.failure?.applicationFailureInfo;
      if (failed && info?.type && reads.has(String(failed.scheduledEventId))) {
        const details = info.details?.payloads?.length
          ? await decodeFromPayloadsAtIndex<{ field?: unknown } | null>(converter, 0, info.details.payloads)
          : null;
        problem = { type: info.type, ...(typeof details?.field === 'string' ? { field: details.field } : {}) };
      }
      const ended = event.workflowExecutionFailedEventAttributes?.failure?.applicationFailureInfo?.type;
      if (ended) gaveUp = ended === 'IntakeTimedOut';
    }
    return { ...(read ? { read } : {}), ...(problem ? { problem } : {}), ...(gaveUp ? { gaveUp } : {}) };
  }

  /** One page of records: every row read, compared with what is filed, and an intake started where it differs. */
  async function reconcilePage(config: RedcapConfig, recordIdField: string, records: string[]): Promise<Page> {
    const em = deps.orm.em.fork();
    const rows = await askRedcap(config.id, () =>
      redcap.exportRecordRows(config, records, exportedFields(config, recordIdField)),
    );
    const filed = new Map<string, FiledEntry>();
    // Oldest first: where several are stored for one row (dates used to tell them apart), the newest wins.
    for (const stored of await em.find(
      RedcapRecord,
      { config: config.id, record: { $in: records } },
      { orderBy: { id: 'asc' } },
    )) {
      filed.set(identityKey(storedIdentity(stored)), stored);
    }

    const page: Page = { checked: 0, started: 0, unchanged: 0, missed: [] };
    const candidates = [];
    for (const row of rows.filter((row) => ofInstrument(row, config))) {
      page.checked += 1;
      if (!isCompleted(row, config)) continue;
      const identity = rowIdentity(row, recordIdField);
      const reading = readRow(row, config, identity.record);
      if (reading.entry && !differsFromFiled(filed.get(identityKey(identity)), reading.entry)) page.unchanged += 1;
      else candidates.push({ identity, reading, digest: rowDigest(row, config) });
    }

    await forEachLimited(candidates, TEMPORAL_CONCURRENCY, async ({ identity, reading, digest }) => {
      const trigger = {
        configId: config.id,
        record: identity.record,
        eventName: identity.eventName || null,
        instance: identity.instance,
      };
      if (!needsIntake(reading, digest, await intakeSeen(trigger))) {
        page.unchanged += 1;
        return;
      }
      const { workflowId } = await startRedcapIntake(deps.temporal, deps.config.taskQueue, config, trigger, {
        startedBy: 'reconciliation',
        rowDigest: digest,
      });
      page.started += 1;
      page.missed.push(describeRow(identity));
      log.warn(
        { configId: config.id, project: config.project, instrument: config.instrument, ...identity, workflowId },
        `REDCap record ${describeRow(identity)} reached us without a Data Entry Trigger; intake started`,
      );
    });
    missedTriggersTotal.inc({ config: String(config.id) }, page.started);
    return page;
  }

  async function endReconcile(configId: number, progress: ReconcileProgress): Promise<void> {
    const em = deps.orm.em.fork();
    const config = await configOf(em, configId);
    const { startedAt, coversGap, totals, missed } = progress;
    if (coversGap) {
      await em.getConnection().execute(
        `insert into reconcile_state (config_id, reconciled_until) values (?, ?)
         on conflict (config_id) do update set reconciled_until = greatest(reconcile_state.reconciled_until, excluded.reconciled_until)`,
        [config.id, startedAt],
      );
    }
    log.info({ configId: config.id, ...totals, missedTriggers: missed.count, coversGap }, 'reconciliation done');
    // For the digest: what this run found (a retried activity records it once).
    if (missed.count > 0) await triggersMissed(em, runOf(Context.current()), { configId: config.id, ...missed });
  }

  async function missedTriggersEmailOf(configId: number, progress: ReconcileProgress): Promise<AdminEmail> {
    const config = await configOf(deps.orm.em.fork(), configId);
    const day = progress.startedAt.slice(0, 10);
    return {
      key: `${redcapReconcileScheduleId(config.id)}:${day}:missed-triggers`,
      kind: 'missed-triggers',
      redcapConfigId: config.id,
      ...missedTriggersEmail({
        configId: config.id,
        url: config.url,
        project: config.project,
        instrument: config.instrument,
        day,
        ...progress.missed,
      }),
    };
  }

  return {
    /** Where a reconciliation starts: its window (from the last successful run, or the lookback) and the record id field. */
    async beginReconcile(input: { configId: number; since?: string }): Promise<ReconcileProgress> {
      const em = deps.orm.em.fork();
      const config = await configOf(em, input.configId);
      const startedAt = new Date();
      const state = await em.findOne(ReconcileState, { config: config.id });
      const window = reconcileWindow(startedAt, {
        since: input.since ? new Date(input.since) : undefined,
        reconciledUntil: state?.reconciledUntil,
        lookbackMs: deps.config.reconcile.lookbackMs,
      });
      const recordIdField = await askRedcap(config.id, () => redcap.exportRecordIdField(config));
      log.info(
        {
          configId: config.id,
          from: window.from.toISOString(),
          dateRangeBegin: window.begin,
          coversGap: window.coversGap,
        },
        'reconciliation begins',
      );
      return {
        startedAt: startedAt.toISOString(),
        begin: window.begin,
        coversGap: window.coversGap,
        recordIdField,
        after: null,
        totals: { checked: 0, started: 0, unchanged: 0 },
        missed: { count: 0, sample: [] },
      };
    },

    /**
     * Every record REDCap says changed since `begin` (after `progress.after`, when going on from a checkpoint), a page
     * at a time: each completed row compared with what is filed, and an intake started where it differs.
     */
    async reconcileRecords(input: { configId: number; progress: ReconcileProgress }): Promise<ReconcileProgress> {
      const context = Context.current();
      let progress: ReconcileProgress = context.info.heartbeatDetails ?? input.progress;
      const config = await configOf(deps.orm.em.fork(), input.configId);
      const names = await askRedcap(config.id, () =>
        redcap.exportRecordNamesSince(config, progress.recordIdField, progress.begin),
      );
      const after = progress.after;
      const todo = after === null ? names : names.filter((name) => name > after);
      const heartbeat = setInterval(() => context.heartbeat(progress), HEARTBEAT_MS);
      try {
        for (let i = 0; i < todo.length; i += PAGE * PARALLEL_PAGES) {
          context.cancellationSignal.throwIfAborted(); // the run was cancelled or terminated, or the worker stops
          const round = todo.slice(i, i + PAGE * PARALLEL_PAGES);
          const pages = [];
          for (let j = 0; j < round.length; j += PAGE)
            pages.push(reconcilePage(config, progress.recordIdField, round.slice(j, j + PAGE)));
          progress = (await Promise.all(pages)).reduce(addPage, { ...progress, after: round[round.length - 1] });
          context.heartbeat(progress);
        }
      } finally {
        clearInterval(heartbeat);
      }
      return progress;
    },

    /** Records a successful run, when it reached back far enough: the next one starts from its start. */
    async endReconcile(input: { configId: number; progress: ReconcileProgress }): Promise<void> {
      await endReconcile(input.configId, input.progress);
    },

    /**
     * The day's email about missed triggers, composed here (from the config and the rows named in the progress) and
     * sent; its key is the config and the day: one a day at most.
     */
    async emailMissedTriggers(input: { configId: number; progress: ReconcileProgress }): Promise<{ emailed: boolean }> {
      const sent = await mail.emailAdmins(await missedTriggersEmailOf(input.configId, input.progress));
      return { emailed: !sent.held };
    },

    /** Reconciliations started before 0.3.0: endReconcile, and the email's text for the workflow to send. */
    async finishReconcile(input: { configId: number; progress: ReconcileProgress }): Promise<AdminEmail | null> {
      await endReconcile(input.configId, input.progress);
      return input.progress.missed.count === 0 ? null : missedTriggersEmailOf(input.configId, input.progress);
    },
  };
}

/** The workflow run an activity works for, as `<workflowId>:<runId>`. */
const runOf = (context: Context) =>
  `${context.info.workflowExecution?.workflowId ?? ''}:${context.info.workflowExecution?.runId ?? ''}`;

/** What one page found: counts, and the rows whose intake was started. */
interface Page extends RedcapReconcileResult {
  missed: string[];
}

function addPage(progress: ReconcileProgress, page: Page): ReconcileProgress {
  const { totals, missed } = progress;
  return {
    ...progress,
    totals: {
      checked: totals.checked + page.checked,
      started: totals.started + page.started,
      unchanged: totals.unchanged + page.unchanged,
    },
    missed: {
      count: missed.count + page.missed.length,
      sample: [...missed.sample, ...page.missed].slice(0, MISSED_SAMPLE),
    },
  };
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
