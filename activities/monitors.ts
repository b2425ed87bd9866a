/**
 * Activities of ScanImportWorkflow and ScanDownloadWorkflow: check scans, run the jobs, compose and send the email.
 *
 * Every check and every job attempt reads the session first: a session whose monitoring was cancelled
 * (POST /sessions/:id/monitors/cancel) ends the monitor `cancelled`. Jobs go through the job ledger
 * (src/jobs/ledger.ts): a session never has two download (or post-download) jobs at once, and the
 * post-download job starts only once the download job has ended.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Session } from '../src/db/entities';
import { SentEmail } from '../src/db/sent-email';
import type { JobKind, JobRun } from '../src/db/job-run';
import { NotFoundError } from '../src/errors';
import type { Logger } from '../src/logger';
import {
  claimJobRun,
  endJobRun,
  failedJobRuns,
  recordJobStart,
  renewJobRun,
  runningJob,
  settleJobRun,
  updateJobRun,
  ALIVE_EVERY_MS,
} from '../src/jobs/ledger';
import { queuedJobId } from '../src/jobs/status';
import {
  AbortError,
  jobCommand,
  JobScriptMissingError,
  SubmitCommandMissingError,
  submitJob,
  type JobResult,
} from '../src/jobs/submit';
import { downloadGaveUpEmail, noScansEmail } from '../src/mail/templates';
import { sessionsChanged } from '../src/lab-data/state';
import { checkSessionScans } from '../src/sessions/scan-check';
import { sessionFacts, viewSession, type SessionView } from '../src/sessions/view';
import { MONITORING_CANCELLED, PermanentError, type MonitorEmailKind, type ScanCheck } from '../surface';
import type { ActivityDeps } from './deps';
import { whileHeartbeating } from './heartbeat';
import { createMailActivities, type ComposedEmail } from './mail';

export interface MonitorEmailRequest {
  kind: MonitorEmailKind;
  /** Idempotency key of the email. */
  key: string;
  sessionId: string;
  recipients?: string[];
  /** no-scans: how long the monitor waited. */
  waitedMs?: number;
  /** download-gave-up: the window, its end and the attempts made. */
  windowMs?: number;
  endTime?: string;
  attempts?: number;
}

/** What sendMonitorEmail answers: the email for the key is sent (by this attempt, or an earlier one), to how many. */
export interface MonitorEmailSent {
  sent: true;
  recipients: number;
  alreadySent?: true;
}

/** A monitor's email, composed from the session read. */
function monitorEmail(request: MonitorEmailRequest, view: SessionView): ComposedEmail {
  const facts = sessionFacts(view);
  const content =
    request.kind === 'no-scans'
      ? noScansEmail(facts, request.waitedMs ?? 0)
      : downloadGaveUpEmail(facts, {
          windowMs: request.windowMs ?? 0,
          endTime: request.endTime ?? '',
          attempts: request.attempts ?? 0,
        });
  return {
    key: request.key,
    kind: request.kind,
    sessionId: facts.sessionId,
    recipients: request.recipients,
    ...content,
  };
}

const emailSent = async (em: EntityManager, key: string) => (await em.count(SentEmail, { key, status: 'sent' })) > 0;

/** Heartbeat period while a job runs, so that a cancel reaches the activity (heartbeatTimeout is 1 minute). */
const HEARTBEAT_MS = 10_000;

/** Failed post-download jobs in one monitor run before the monitor fails (jobs stopped by us do not count). */
export const POST_DOWNLOAD_TRIES = 10;

function sessionGone(sessionId: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: PermanentError.SessionNotFound,
    nonRetryable: true,
    message: `Session ${sessionId} is no longer in the database; the monitor cannot check it (was it deleted or renamed?)`,
    details: [{ sessionId }],
  });
}

/** The session read, or the permanent SessionNotFound failure when it is no longer in the database. */
async function orSessionGone<T>(sessionId: string, read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof NotFoundError) throw sessionGone(sessionId);
    throw err;
  }
}

const readSession = (em: EntityManager, sessionId: string): Promise<SessionView> =>
  orSessionGone(sessionId, viewSession(em, sessionId));

/** The session's monitoring was cancelled: the monitor ends `cancelled` (surface MONITORING_CANCELLED). */
function refuseIfCancelled(view: SessionView): void {
  if (!view.monitorsCancelled) return;
  const { reason, at } = view.monitorsCancelled;
  throw ApplicationFailure.create({
    type: MONITORING_CANCELLED,
    nonRetryable: true,
    message: `Monitoring of ${view.sessionId} was cancelled at ${at}${reason ? `: ${reason}` : ''}`,
    details: [reason ? { reason } : {}],
  });
}

/** Why a job was stopped, by the activity's cancellation reason. */
const WHY_STOPPED: Record<string, string> = {
  WORKER_SHUTDOWN: 'the worker shut down',
  NOT_FOUND: 'its monitor has ended',
  CANCELLED: 'its monitor was cancelled',
  TIMED_OUT: 'the attempt timed out',
};

/** A job script or command that is not there: a failure no retry fixes. */
function permanent(err: unknown, script: string, attempt: number): unknown {
  if (!(err instanceof JobScriptMissingError || err instanceof SubmitCommandMissingError)) return err;
  return ApplicationFailure.create({
    type: err.name,
    nonRetryable: true,
    message: err.message,
    details: [{ script, attempt }],
  });
}

/** The monitor run an activity works for. */
const monitorRun = (context: Context) => context.info.workflowExecution ?? { workflowId: '', runId: '' };

/** A job claimed in the ledger by one attempt. */
interface ClaimedJob {
  kind: JobKind;
  script: string;
  args: { study: string; session: string };
  command: string;
  row: JobRun;
  attempt: number;
  log: Logger;
}

/**
 * Where a failed job's output is: a job may print anything (participant data too), so its stderr stays in our
 * database and out of the failure, which Temporal keeps in the history and shows in the Web UI.
 */
const jobOutputKept = (sessionId: string, jobRunId: number) =>
  `its stderr is kept in job run ${jobRunId} (GET /sessions/${sessionId}, "jobs")`;

const describeJob = (row: JobRun) =>
  `${row.jobId ? `job ${row.jobId}` : row.command}, submitted ${row.submittedAt.toISOString()}`;

export function createMonitorActivities(deps: ActivityDeps) {
  const mail = createMailActivities(deps);
  const settings = deps.config.submit;
  const queued = settings.statusCommand !== undefined;

  /** Fails the attempt (retryable) while the session has a job of this kind queued or running, or of unknown state. */
  async function ensureNoJobRunning(sessionId: string, kind: JobKind): Promise<void> {
    const em = deps.orm.em.fork();
    const row = await runningJob(em, sessionId, kind);
    if (!row) return;
    const state = await settleJobRun(em, row, settings.statusCommand, settings.scriptsDir);
    if (state.state === 'ended') return;
    const { attempt } = Context.current().info;
    throw ApplicationFailure.create({
      type: state.state === 'active' ? 'JobStillRunning' : 'JobStateUnknown',
      message:
        state.state === 'active'
          ? `The ${kind} job of ${sessionId} (${describeJob(row)}) is still queued or running (${state.detail}); not submitting another, checking again later`
          : `Cannot tell whether the ${kind} job of ${sessionId} (${describeJob(row)}) still runs: ${state.detail}; not submitting another until it can be read`,
      details: [{ attempt, jobRunId: row.id, jobId: row.jobId ?? null, detail: state.detail }],
    });
  }

  /**
   * Whether a cancelled activity stops its job. A download attempt its own monitor asked to stop (scansArrived)
   * lets the job finish, unless the session's monitoring was cancelled; anything else (the monitor ended, the
   * worker shutting down past SHUTDOWN_GRACE, a timeout) stops it.
   */
  async function stopsJob(context: Context, kind: JobKind, sessionId: string): Promise<boolean> {
    if (kind !== 'download' || !context.cancellationDetails?.cancelRequested) return true;
    const session = await deps.orm.em
      .fork()
      .findOne(Session, sessionId)
      .catch(() => null);
    return Boolean(session?.monitorsCancelledAt);
  }

  /**
   * Runs (or, with a queue, submits) the session's job of a kind, recorded in the job ledger: claimed, run, then
   * settled by how it ended. Returns its result and its row's id.
   */
  async function runJob(kind: JobKind, script: string, view: SessionView): Promise<JobResult & { jobRunId: number }> {
    const context = Context.current();
    const job = await claimJob(context, kind, script, view);
    let result: JobResult;
    try {
      result = await runClaimedJob(context, job);
    } catch (err) {
      throw await settleStoppedJob(context, job, err);
    }
    await settleJob(job, result);
    return { ...result, jobRunId: job.row.id };
  }

  /** Claims the session's job of a kind in the ledger: fails (retryably) when another attempt claimed it first. */
  async function claimJob(context: Context, kind: JobKind, script: string, view: SessionView): Promise<ClaimedJob> {
    const { attempt } = context.info;
    const { workflowId, runId } = monitorRun(context);
    const args = { study: view.study.id, session: view.sessionId };
    let command: string;
    try {
      ({ command } = jobCommand(settings, script, args));
    } catch (err) {
      throw permanent(err, script, attempt);
    }
    context.cancellationSignal.throwIfAborted(); // asked to stop before anything was submitted
    const row = await claimJobRun(deps.orm.em.fork(), {
      sessionId: view.sessionId,
      kind,
      command,
      workflowId,
      runId,
      attempt,
    });
    if (!row) {
      throw ApplicationFailure.create({
        type: 'JobStillRunning',
        message: `Another ${kind} job of ${view.sessionId} was submitted meanwhile; not submitting a second one`,
        details: [{ attempt }],
      });
    }
    const log = deps.logger.child({ sessionId: view.sessionId, kind, attempt });
    await sessionsChanged(deps.orm.em.fork(), [view.sessionId], log);
    return { kind, script, args, command, row, attempt, log };
  }

  /**
   * Runs a claimed job: heartbeats, renews its row, and stops it (AbortError) when the activity is cancelled and
   * `stopsJob` says so, or when a shutting-down worker's grace is over.
   */
  async function runClaimedJob(context: Context, job: ClaimedJob): Promise<JobResult> {
    const stopper = new AbortController();
    let ended = false;
    let runningOn: NodeJS.Timeout | undefined;
    const stopIfDue = async () => {
      if (!ended && (await stopsJob(context, job.kind, job.args.session))) stopper.abort();
    };
    const onCancel = async () => {
      await stopIfDue();
      if (ended || stopper.signal.aborted) return;
      const detail = 'its monitor asked the attempt to stop (scansArrived): the job runs to its end';
      job.log.info(detail);
      await updateJobRun(deps.orm.em.fork(), job.row.id, { detail }).catch(() => undefined);
      // No second cancellation reaches the attempt: a cancel of the session's monitoring made meanwhile is read here.
      if (!ended) runningOn = setInterval(() => void stopIfDue(), HEARTBEAT_MS);
    };
    const listener = () => void onCancel();
    const graceOver = () => stopper.abort();
    context.cancellationSignal.addEventListener('abort', listener, { once: true });
    deps.graceOver?.addEventListener('abort', graceOver, { once: true });
    const renewal = setInterval(
      () => void renewJobRun(deps.orm.em.fork(), job.row.id).catch(() => undefined),
      ALIVE_EVERY_MS,
    );
    let pidWritten: Promise<void> = Promise.resolve();
    try {
      const result = await whileHeartbeating(
        () =>
          submitJob(settings, job.script, job.args, {
            signal: stopper.signal,
            onStart: (pid) => (pidWritten = recordJobStart(deps.orm.em.fork(), job.row.id, pid)),
          }),
        HEARTBEAT_MS,
        { attempt: job.attempt },
      );
      await pidWritten.catch(() => undefined);
      return result;
    } finally {
      ended = true;
      clearInterval(runningOn);
      clearInterval(renewal);
      context.cancellationSignal.removeEventListener('abort', listener);
      deps.graceOver?.removeEventListener('abort', graceOver);
    }
  }

  /** The row of a job the submit command returned from: a queued job stays running under its job id; any other is over. */
  async function settleJob(job: ClaimedJob, result: JobResult): Promise<void> {
    const em = deps.orm.em.fork();
    if (result.exitCode !== 0) {
      await endJobRun(em, job.row.id, {
        status: 'failed',
        exitCode: result.exitCode,
        detail: result.stderr.slice(-2_000) || null,
      });
    } else if (queued) {
      await updateJobRun(em, job.row.id, { pid: null, jobId: queuedJobId(result.stdout) });
    } else {
      await endJobRun(em, job.row.id, { status: 'succeeded', exitCode: 0 });
    }
    job.log.info(
      { command: job.command, exitCode: result.exitCode, stdout: result.stdout },
      result.exitCode === 0 ? `${job.kind} job done` : `${job.kind} job failed`,
    );
  }

  /** The row of a job that could not run or was stopped; returns what the activity throws. */
  async function settleStoppedJob(context: Context, job: ClaimedJob, err: unknown): Promise<unknown> {
    const em = deps.orm.em.fork();
    if (!(err instanceof AbortError)) {
      await endJobRun(em, job.row.id, { status: 'failed', detail: String((err as Error).message) }).catch(
        () => undefined,
      );
      return permanent(err, job.script, job.attempt);
    }
    const reason = (context.cancellationSignal.reason as Error | undefined)?.message ?? '';
    const why = deps.graceOver?.aborted
      ? WHY_STOPPED.WORKER_SHUTDOWN
      : (WHY_STOPPED[reason] ?? 'the attempt was cancelled');
    await endJobRun(em, job.row.id, { status: 'interrupted', detail: `stopped: ${why}` });
    job.log.warn({ command: job.command }, `${job.kind} job stopped (${why})`);
    // Its monitor asked the attempt to stop: the monitor decides what comes next.
    if (context.cancellationDetails?.cancelRequested) return context.cancellationSignal.reason;
    // Stopped by us, not for want of data: the next attempt comes soon (on a worker that is up), not after the backoff.
    return ApplicationFailure.create({
      type: 'JobInterrupted',
      message: `The ${job.kind} job of ${job.args.session} was stopped (${why}); it is submitted again shortly`,
      nextRetryDelay: '5 seconds',
      details: [{ attempt: job.attempt }],
    });
  }

  return {
    /** Whether the session still misses its scans, and whether its monitoring was cancelled (src/sessions/scan-check.ts, one SQL statement). A session gone is permanent. */
    async checkScans(sessionId: string): Promise<ScanCheck> {
      return orSessionGone(sessionId, checkSessionScans(deps.orm.em.fork(), sessionId));
    },

    /**
     * One download attempt: scans there (and no download job running) → done; otherwise submit the download job
     * and fail, so that Temporal retries with backoff until the scans are there or the schedule-to-close timeout
     * (the end time) passes. While the last job is still queued or running, nothing is submitted.
     */
    async downloadScans(input: { sessionId: string }): Promise<{ scans: number; attempt: number }> {
      const context = Context.current();
      const { attempt } = context.info;
      // The attempt number, for the monitor to count the attempts made should the end time pass mid-attempt.
      context.heartbeat({ attempt });
      const view = await readSession(deps.orm.em.fork(), input.sessionId);
      refuseIfCancelled(view);
      await ensureNoJobRunning(view.sessionId, 'download');
      if (view.scans.length > 0) return { scans: view.scans.length, attempt };
      if (!view.downloadScript) {
        throw ApplicationFailure.create({
          type: PermanentError.NoDownloadScript,
          nonRetryable: true,
          message: `Study ${view.study.id} at site ${view.site} has no download script; nothing can fetch the scans of ${view.sessionId}`,
        });
      }
      const job = await runJob('download', view.downloadScript, view);
      // Asked to stop by its monitor (scansArrived): the job has finished; the monitor checks again.
      if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
      if (job.exitCode !== 0) {
        throw ApplicationFailure.create({
          type: 'DownloadJobFailed',
          message: `Download job for ${view.sessionId} failed to submit (exit ${job.exitCode ?? job.signal}); ${jobOutputKept(view.sessionId, job.jobRunId)}`,
          details: [{ attempt, exitCode: job.exitCode, jobRunId: job.jobRunId }],
        });
      }
      const jobId = queued ? queuedJobId(job.stdout) : null;
      const how = queued ? `submitted${jobId ? ` as job ${jobId}` : ''}` : 'ran';
      throw ApplicationFailure.create({
        type: 'ScansNotYetArrived',
        message: `Download job for ${view.sessionId} ${how} (attempt ${attempt}); no scans yet, checking again after the backoff`,
        details: [{ attempt, exitCode: job.exitCode, jobId, jobRunId: job.jobRunId }],
      });
    },

    /**
     * The site's post-download job, if it has one, once no download job runs. A failing job is retried; after
     * POST_DOWNLOAD_TRIES failures in this monitor run the monitor fails. A job stopped by a worker shutdown
     * is submitted again, and does not count.
     */
    async runPostDownload(input: { sessionId: string }): Promise<{ script: string | null; exitCode: number | null }> {
      const context = Context.current();
      const view = await readSession(deps.orm.em.fork(), input.sessionId);
      refuseIfCancelled(view);
      if (!view.postDownloadScript) return { script: null, exitCode: null };
      await ensureNoJobRunning(view.sessionId, 'download');
      await ensureNoJobRunning(view.sessionId, 'post-download');
      const job = await runJob('post-download', view.postDownloadScript, view);
      if (job.exitCode !== 0) {
        const failures = await failedJobRuns(deps.orm.em.fork(), monitorRun(context).runId, 'post-download');
        const last = failures >= POST_DOWNLOAD_TRIES;
        throw ApplicationFailure.create({
          type: 'PostDownloadJobFailed',
          nonRetryable: last,
          message:
            `Post-download job ${view.postDownloadScript} for ${view.sessionId} failed (exit ${job.exitCode ?? job.signal})` +
            (last ? ` (failure ${failures} of ${POST_DOWNLOAD_TRIES}: not tried again)` : '') +
            `; ${jobOutputKept(view.sessionId, job.jobRunId)}`,
          details: [{ exitCode: job.exitCode, failures, jobRunId: job.jobRunId }],
        });
      }
      return { script: view.postDownloadScript, exitCode: job.exitCode };
    },

    /**
     * Composes a monitor's email from the session as the database has it now, and sends it once per key (through
     * the sent_email ledger, activities/mail.ts): the workflow hands in ids, kind, times and counts, so that no
     * email text is in its history. A session whose monitoring was cancelled gets no email (MONITORING_CANCELLED:
     * the monitor ends `cancelled`), unless an earlier attempt sent it already.
     */
    async sendMonitorEmail(request: MonitorEmailRequest): Promise<MonitorEmailSent> {
      const view = await readSession(deps.orm.em.fork(), request.sessionId);
      if (view.monitorsCancelled && !(await emailSent(deps.orm.em.fork(), request.key))) refuseIfCancelled(view);
      const sent = await mail.emailAdmins(monitorEmail(request, view));
      return { sent: true, recipients: sent.recipients.length, ...(sent.alreadySent ? { alreadySent: true } : {}) };
    },

    /**
     * The email as 0.1.0 and 0.2.0 monitors ask for it (their history then holds its text, and emailAdmins
     * sends it): kept for those still running until the patch monitor-email-composed-where-sent is deleted.
     */
    async composeMonitorEmail(request: MonitorEmailRequest): Promise<ComposedEmail> {
      return monitorEmail(request, await readSession(deps.orm.em.fork(), request.sessionId));
    },
  };
}
