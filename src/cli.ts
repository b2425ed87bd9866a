/**
 * Entry of `npm run cli -- …`: the operator's commands.
 *   migrate              apply pending database migrations
 *   config apply FILE    apply a YAML lab config (studies, sites, users, REDCap projects); safe to repeat; then
 *                        bring the reconciliation schedules in step with it
 *   reconcile [--since ISO-TIME] [--config ID]   reconcile now (a backfill), printing the counts
 *   pull --config ID RECORD [--event E] [--instance N]   start the intake of one record now (its trigger never came)
 *   forget --config ID RECORD | --session SESSION   remove a participant's stored data (docs/participant-data.md)
 * The database: DATABASE_URL, else the embedded PostgreSQL of `npm start` (see db/command-database.ts). Temporal:
 * TEMPORAL_ADDRESS, else the dev server of `npm start` (see temporal/client.ts commandTemporalAddress).
 * Exit code 0 when done, 1 on any error, with a message naming the problem (one line per problem).
 */
import fs from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { DriverException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { loadConfig, type Config } from './config';
import { withCommandDatabase } from './db/command-database';
import { RedcapConfig } from './db/entities';
import { DomainError } from './errors';
import { migrate, type Orm } from './db/orm';
import { describeStartupFailure, StartupError } from './startup-failure';
import { applyLabConfig, formatReport, LabConfigError, parseLabConfig } from './lab-config';
import { forgetParticipantData, type ForgetReport, type ForgetTarget } from './sessions/forget';
import { commandTemporalAddress, connectTemporal, temporalSettings } from './temporal/client';
import { pullRecord, pullSchema } from './lab-data/pull';
import { syncDigestSchedulesWith } from './temporal/digest-schedules';
import { describeScheduleChange, syncReconcileSchedulesWith } from './temporal/schedules';
import {
  REDCAP_RECONCILE_WORKFLOW,
  redcapReconcileScheduleId,
  type RedcapIntakeResult,
  type RedcapReconcileInput,
} from '../surface';
import type { RedcapReconcileWorkflow } from '../workflows/reconcile';

/** A refused command, with a message that says what to do. */
class CommandError extends StartupError {}

const out = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`${line}\n`);

function createProgram(): Command {
  const program = new Command('npm run cli --')
    .description('redcap-scan-monitor operator commands')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('migrate')
    .description('apply pending database migrations (DATABASE_URL, else the embedded PostgreSQL under DATA_DIR)')
    .action(async () => {
      const config = loadConfig();
      await withCommandDatabase(config, note, async (orm) => {
        const applied = await migrate(orm);
        out(applied.length > 0 ? `applied migrations: ${applied.join(', ')}` : 'database schema up to date');
      });
    });

  program
    .command('config')
    .description('the lab config: studies, sites, users, REDCap projects')
    .command('apply')
    .description('apply a YAML lab config to the database in one transaction; safe to run again')
    .argument('<file>', 'YAML file (see README, "Configuration")')
    .action(async (file: string) => {
      const config = loadConfig();
      let source: string;
      try {
        source = fs.readFileSync(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        const why = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' }[code] ?? code;
        throw new LabConfigError([{ message: `cannot read the file: ${why || String(err)}` }], file);
      }
      // A bad file is refused before the database is touched.
      const parsed = parseLabConfig(source, { file });
      await withCommandDatabase(config, note, async (orm) => {
        // Pending migrations first, so a fresh database takes a config straight away.
        const applied = await migrate(orm);
        if (applied.length > 0) note(`applied migrations: ${applied.join(', ')}`);
        const report = await applyLabConfig(orm.em.fork(), parsed.config, parsed);
        for (const line of formatReport(report)) out(line);
        await updateSchedules(config, orm);
      });
    });

  program
    .command('reconcile')
    .description(
      'reconcile now: start the intake of each completed REDCap record that no Data Entry Trigger announced, and print the ' +
        'counts (a running worker does the work: npm start or npm run worker)',
    )
    .option(
      '--since <ISO-TIME>',
      'records changed since then (default: since the last successful run, or RECONCILE_LOOKBACK)',
      isoTime,
    )
    .option('--config <ID>', 'only this REDCap config (default: every one)', configId)
    .action(async (options: { since?: string; config?: number }) => {
      const config = loadConfig();
      const address = commandTemporalAddress(config);
      if (!address)
        throw new CommandError('reconcile needs Temporal: set TEMPORAL_ADDRESS, or start the service with npm start');
      const client = await connectTemporal(temporalSettings(config, address));
      try {
        const all = await withCommandDatabase(config, note, (orm) =>
          orm.em.fork().find(RedcapConfig, {}, { orderBy: { id: 'asc' } }),
        );
        const configs = all.filter((redcap) => options.config === undefined || redcap.id === options.config);
        if (configs.length === 0 && options.config !== undefined) {
          throw new CommandError(
            `no REDCap config ${options.config} (the REDCap configs: ${all.map((redcap) => redcap.id).join(', ') || 'none'})`,
          );
        }
        for (const redcap of configs) await reconcileNow(client, config, redcap, options.since);
      } finally {
        await client.connection.close();
      }
    });

  program
    .command('forget')
    .description(
      "remove a participant's data from our database: a REDCap record's stored comment, scan date and user, its " +
        "sessions' date and texts, and the subject and recipients of their emails; then list the Temporal histories " +
        'that still hold their ids (docs/participant-data.md)',
    )
    .argument('[record]', 'the REDCap record name, with --config')
    .option('--config <ID>', 'the REDCap config of the record', configId)
    .option('--session <SESSION>', 'instead of a record: a session id, and the REDCap record filed against it')
    .action(async (record: string | undefined, options: { config?: number; session?: string }) => {
      const target: ForgetTarget | undefined = options.session
        ? record === undefined && options.config === undefined
          ? { sessionId: options.session }
          : undefined
        : record !== undefined && options.config !== undefined
          ? { configId: options.config, record }
          : undefined;
      if (!target) throw new CommandError('forget takes either --config ID RECORD or --session SESSION');
      const config = loadConfig();
      const report = await withCommandDatabase(config, note, (orm) =>
        forgetParticipantData(orm.em.fork() as EntityManager, target),
      );
      for (const r of report.records) {
        const where = `${r.eventName ? `, event ${r.eventName}` : ''}${r.instance ? `, instance ${r.instance}` : ''}`;
        out(`forgot REDCap record ${r.record} of config ${r.configId}${where}: its comment, scan date and user`);
      }
      for (const session of report.sessions)
        out(`forgot session ${session}: its date, cancel reason and no-scans comment`);
      out(`cleared the subject, recipients and error of ${report.emails} email${report.emails === 1 ? '' : 's'}`);
      await listHistories(config, report);
    });

  program
    .command('pull')
    .description(
      'start the intake of one REDCap record now, as its Data Entry Trigger would have (a running worker files it: npm ' +
        'start or npm run worker); waits up to a minute for it to be filed',
    )
    .argument('<record>', 'the record as REDCap names it')
    .requiredOption('--config <ID>', 'the REDCap config (its id, as GET /sessions/:id shows it)', configId)
    .option('--event <name>', 'the unique event name (longitudinal projects)')
    .option('--instance <n>', 'the repeat instance (repeating instruments and events)', instanceNumber)
    .action(async (record: string, options: { config: number; event?: string; instance?: number }) => {
      const config = loadConfig();
      const address = commandTemporalAddress(config);
      if (!address)
        throw new CommandError('pull needs Temporal: set TEMPORAL_ADDRESS, or start the service with npm start');
      const request = pullSchema.safeParse({ record, event: options.event, instance: options.instance });
      if (!request.success)
        throw new CommandError(request.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const client = await connectTemporal(temporalSettings(config, address));
      try {
        const { workflowId } = await withCommandDatabase(config, note, (orm) =>
          pullRecord({ temporal: client, config }, orm.em.fork() as EntityManager, options.config, request.data),
        );
        out(`intake ${workflowId} started`);
        await reportIntake(client, workflowId);
      } finally {
        await client.connection.close();
      }
    });

  return program;
}

/** The Temporal histories that still hold the forgotten ids: those that exist, with their state, and the rest. */
async function listHistories(config: Config, report: ForgetReport): Promise<void> {
  const address = commandTemporalAddress(config);
  let client: Client | undefined;
  try {
    if (address) client = await connectTemporal(temporalSettings(config, address));
  } catch (err) {
    note(`warning: Temporal not reached (${describeStartupFailure(err)}): the workflows below may exist`);
  }
  try {
    const retention = client
      ? (await client.workflowService.describeNamespace({ namespace: config.temporalNamespace })).config
          ?.workflowExecutionRetentionTtl?.seconds
      : undefined;
    const kept = retention ? `${Math.round(Number(retention) / 86_400)} days` : "the namespace's retention";
    out(`Temporal histories that hold these ids (a closed workflow's history is kept for ${kept}, then deleted):`);
    for (const workflowId of report.workflowIds) {
      const state = client
        ? await client.workflow
            .getHandle(workflowId)
            .describe()
            .then(
              (d) => `${d.status.name}${d.closeTime ? `, closed ${d.closeTime.toISOString()}` : ''}`,
              (err: unknown) => (err instanceof WorkflowNotFoundError ? undefined : `unknown (${String(err)})`),
            )
        : 'not checked';
      if (state) out(`  ${workflowId}: ${state}`);
    }
    for (const scheduleId of report.scheduleIds)
      out(`  the runs of schedule ${scheduleId} (${scheduleId}-<time>) may name the record in their results`);
  } finally {
    await client?.connection.close();
  }
}

/** What the pulled record's intake did, once it is done (a minute at most: then it says where to look). */
async function reportIntake(client: Client, workflowId: string): Promise<void> {
  try {
    const result = (await client.withDeadline(Date.now() + 60_000, () =>
      client.workflow.getHandle(workflowId).result(),
    )) as RedcapIntakeResult;
    out(
      `filed: session ${result.sessionId} (${result.change}${result.movedFrom ? `, moved from ${result.movedFrom}` : ''})` +
        `${result.monitors ? '; its monitors started' : ''}`,
    );
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      process.exitCode = 1;
      note(`error: the intake failed: ${err.cause?.message ?? err.message}`);
    } else {
      note(`the intake is still running (is a worker running?); see ${workflowId} in the Temporal Web UI`);
    }
  }
}

/**
 * After config apply: the schedules, on the Temporal there is. A Temporal that does not answer (or fails) is a warning:
 * the database part is done, and the next start of npm start or npm run worker updates them.
 */
async function updateSchedules(config: Config, orm: Orm): Promise<void> {
  const address = commandTemporalAddress(config);
  if (!address) return; // npm start has never run here: it creates the schedules when it starts.
  let client: Client | undefined;
  try {
    client = await connectTemporal(temporalSettings(config, address));
    for (const change of await syncReconcileSchedulesWith(orm, client, config)) out(describeScheduleChange(change));
    for (const change of await syncDigestSchedulesWith(orm, client, config)) out(describeScheduleChange(change));
  } catch (err) {
    note(
      `warning: reconciliation and digest schedules not updated: ${describeStartupFailure(err)}; npm start and npm run worker update them when they start`,
    );
  } finally {
    await client?.connection.close();
  }
}

/** One reconciliation of `redcap`, run by a worker; prints its counts, or fails with its reason. */
async function reconcileNow(client: Client, config: Config, redcap: RedcapConfig, since?: string): Promise<void> {
  const what = `config ${redcap.id} (project ${redcap.project} ${redcap.instrument} at ${redcap.url})`;
  const workflowId = `${redcapReconcileScheduleId(redcap.id)}-cli-${new Date().toISOString()}`;
  const input: RedcapReconcileInput = { configId: redcap.id, ...(since ? { since } : {}) };
  note(`${what}: reconciling as workflow ${workflowId} (a worker runs it: npm start or npm run worker)`);
  const started = Date.now();
  try {
    const result = await client.workflow.execute<typeof RedcapReconcileWorkflow>(REDCAP_RECONCILE_WORKFLOW, {
      workflowId,
      taskQueue: config.taskQueue,
      args: [input],
      staticSummary: `Reconciliation of REDCap project ${redcap.project} (${redcap.instrument}) at ${redcap.url}, from the CLI`,
    });
    const { checked, started: intakes, unchanged } = result;
    out(
      `${what}: checked ${checked}, started ${intakes}, unchanged ${unchanged} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    process.exitCode = 1;
    note(`error: ${what}: ${err.cause?.message ?? err.message}`);
  }
}

function isoTime(value: string): string {
  const time = /^\d{4}-\d{2}-\d{2}(T|\s|$)/.test(value.trim()) ? new Date(value.trim()) : new Date(NaN);
  if (Number.isNaN(time.getTime()))
    throw new InvalidArgumentError(`"${value}" is not an ISO time (e.g. 2026-11-20T08:00:00Z)`);
  return time.toISOString();
}

function instanceNumber(value: string): number {
  if (!/^[1-9]\d{0,9}$/.test(value.trim()))
    throw new InvalidArgumentError(`"${value}" is not a repeat instance (a whole number from 1)`);
  return Number(value);
}

function configId(value: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value.trim()))
    throw new InvalidArgumentError(`"${value}" is not a REDCap config id (a whole number)`);
  return Number(value);
}

/** What to tell the operator: one line per problem; never a stack (unless LOG_LEVEL=debug), never a secret. */
function describeError(err: unknown): string[] {
  if (err instanceof LabConfigError) return err.lines();
  if (err instanceof DomainError) return [err.message];
  if (err instanceof DriverException) {
    // The driver's message starts with the SQL and its values; keep PostgreSQL's own words only.
    const message = err.message.split(' - ').pop() ?? err.name;
    return [`database error: ${message}`];
  }
  return [describeStartupFailure(err)];
}

async function main(): Promise<void> {
  try {
    await createProgram().parseAsync(process.argv);
  } catch (err) {
    for (const line of describeError(err)) note(`error: ${line}`);
    if (process.env.LOG_LEVEL === 'debug' && err instanceof Error && !(err instanceof LabConfigError))
      note(err.stack ?? '');
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
