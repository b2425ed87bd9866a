/** Activities of ScanImportWorkflow and ScanDownloadWorkflow: check scans, compose mail, submit jobs. */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import { NotFoundError } from '../src/errors';
import { JobScriptMissingError, SubmitCommandMissingError, submitJob, type JobResult } from '../src/jobs/submit';
import { downloadGaveUpEmail, noScansEmail } from '../src/mail/templates';
import { checkSessionScans, type ScanCheck } from '../src/sessions/scan-check';
import { sessionFacts, viewSession, type SessionView } from '../src/sessions/view';
import { PermanentError, type MonitorEmailKind } from '../surface';
import type { ActivityDeps } from './deps';
import { whileHeartbeating } from './heartbeat';
import type { AdminEmail } from './mail';

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

/** Heartbeat period while a job runs, so that a cancel reaches the activity (heartbeatTimeout is 1 minute). */
const HEARTBEAT_MS = 10_000;

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

const readSession = (em: EntityManager, sessionId: string): Promise<SessionView> => orSessionGone(sessionId, viewSession(em, sessionId));

export function createMonitorActivities(deps: ActivityDeps) {
  /** Runs a job script, heartbeating, killed when the activity is cancelled. Permanent problems are non-retryable. */
  async function runJob(script: string, view: SessionView): Promise<JobResult> {
    const signal = Context.current().cancellationSignal;
    try {
      return await whileHeartbeating(() => submitJob(deps.config.submit, script, { study: view.study.id, session: view.sessionId }, { signal }), HEARTBEAT_MS);
    } catch (err) {
      if (err instanceof JobScriptMissingError || err instanceof SubmitCommandMissingError) {
        throw ApplicationFailure.create({ type: err.name, nonRetryable: true, message: err.message, details: [{ script }] });
      }
      throw err;
    }
  }

  return {
    /** Whether the session still misses its scans (src/sessions/scan-check.ts, one SQL statement). A session gone is permanent. */
    async checkScans(sessionId: string): Promise<ScanCheck> {
      return orSessionGone(sessionId, checkSessionScans(deps.orm.em.fork(), sessionId));
    },

    /**
     * One download attempt: scans there → done; otherwise submit the download job and fail, so that Temporal
     * retries with backoff until the scans are there or the schedule-to-close timeout (the end time) passes.
     */
    async downloadScans(input: { sessionId: string }): Promise<{ scans: number; attempt: number }> {
      const { attempt } = Context.current().info;
      const view = await readSession(deps.orm.em.fork(), input.sessionId);
      if (view.scans.length > 0) return { scans: view.scans.length, attempt };
      if (!view.downloadScript) {
        throw ApplicationFailure.create({
          type: PermanentError.NoDownloadScript,
          nonRetryable: true,
          message: `Study ${view.study.id} at site ${view.site} has no download script; nothing can fetch the scans of ${view.sessionId}`,
        });
      }
      const job = await runJob(view.downloadScript, view);
      const log = deps.logger.child({ sessionId: view.sessionId, attempt, command: job.command });
      if (job.exitCode !== 0) {
        log.warn({ exitCode: job.exitCode, signal: job.signal, stderr: job.stderr }, 'download job submission failed');
        throw ApplicationFailure.create({
          type: 'DownloadJobFailed',
          message: `Download job for ${view.sessionId} failed to submit (exit ${job.exitCode ?? job.signal}): ${job.stderr.trim() || '(no stderr)'}`,
          details: [{ attempt, exitCode: job.exitCode, stderr: job.stderr, stdout: job.stdout }],
        });
      }
      log.info({ stdout: job.stdout }, 'download job submitted');
      throw ApplicationFailure.create({
        type: 'ScansNotYetArrived',
        message: `Download job for ${view.sessionId} submitted (attempt ${attempt}); no scans yet, checking again after the backoff`,
        details: [{ attempt, exitCode: job.exitCode, stdout: job.stdout }],
      });
    },

    /** The site's post-download job, if it has one. A failing job is retried. */
    async runPostDownload(input: { sessionId: string }): Promise<{ script: string | null; exitCode: number | null }> {
      const view = await readSession(deps.orm.em.fork(), input.sessionId);
      if (!view.postDownloadScript) return { script: null, exitCode: null };
      const job = await runJob(view.postDownloadScript, view);
      if (job.exitCode !== 0) {
        throw ApplicationFailure.create({
          type: 'PostDownloadJobFailed',
          message: `Post-download job ${view.postDownloadScript} for ${view.sessionId} failed (exit ${job.exitCode ?? job.signal}): ${job.stderr.trim() || '(no stderr)'}`,
          details: [{ exitCode: job.exitCode, stderr: job.stderr }],
        });
      }
      deps.logger.info({ sessionId: view.sessionId, command: job.command, stdout: job.stdout }, 'post-download job done');
      return { script: view.postDownloadScript, exitCode: job.exitCode };
    },

    /** The email a monitor sends, from the session as the database has it now. */
    async composeMonitorEmail(request: MonitorEmailRequest): Promise<AdminEmail> {
      const facts = sessionFacts(await readSession(deps.orm.em.fork(), request.sessionId));
      const content =
        request.kind === 'no-scans'
          ? noScansEmail(facts, request.waitedMs ?? 0)
          : downloadGaveUpEmail(facts, { windowMs: request.windowMs ?? 0, endTime: request.endTime ?? '', attempts: request.attempts ?? 0 });
      return { key: request.key, kind: request.kind, sessionId: facts.sessionId, recipients: request.recipients, ...content };
    },
  };
}
