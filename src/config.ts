/**
 * Every environment variable the service reads, parsed and validated once.
 * A bad value stops the process at start with a message that names the variable.
 */
import net from 'node:net';
import path from 'node:path';
import { msToNumber, type Duration } from '@temporalio/common';
import { z } from 'zod';
import { StartupError } from './startup-failure';

/** A duration in the forms Temporal accepts ("2 days", "90s", "1h"), as milliseconds. */
function toMillis(value: string, ctx: z.RefinementCtx): number {
  let millis: number;
  try {
    millis = msToNumber(value as Duration);
  } catch {
    millis = NaN;
  }
  if (!Number.isFinite(millis) || millis <= 0) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `"${value}" is not a duration (try "2 days", "90s" or "1h")`,
    });
    return z.NEVER;
  }
  return millis;
}
const duration = z.string().trim().transform(toMillis);
/** A duration, or `off` (null). */
const durationOrOff = z
  .string()
  .trim()
  .transform((value, ctx) => (/^off$/i.test(value) ? null : toMillis(value, ctx)));

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

const url = (protocols: string[]) =>
  optionalText.refine(
    (value) => {
      if (value === undefined) return true;
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL (${protocols.join(' or ')})` },
  );

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** The API's listen address. Off loopback it needs DET_SECRET (assertSafeExposure). */
  HOST: optionalText.transform((value) => value?.trim() ?? '127.0.0.1'),
  DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: url(['postgres:', 'postgresql:']),
  TEMPORAL_ADDRESS: optionalText,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('scan-monitors'),
  SMTP_URL: url(['smtp:', 'smtps:']),
  MAIL_FROM: z.string().min(3).default('redcap-scan-monitor@localhost'),
  DET_SECRET: optionalText,
  API_TOKEN: optionalText,
  SUBMIT_COMMAND: z.string().min(1).default('bash'),
  SUBMIT_OPTIONS: z.string().default(''),
  SUBMIT_SCRIPTS: z.string().min(1).default('./scripts/jobs'),
  SCAN_CHECK_DELAY: duration.default('2 days'),
  DOWNLOAD_WINDOW: duration.default('2 days'),
  DOWNLOAD_RETRY_INITIAL: duration.default('1 hour'),
  DOWNLOAD_RETRY_MAX: duration.default('6 hours'),
  RECONCILE_INTERVAL: durationOrOff.default('1 hour'),
  RECONCILE_LOOKBACK: duration.default('7 days'),
  /** On SIGTERM/SIGINT the worker stops polling and lets running activities finish for this long, then cancels them. */
  SHUTDOWN_GRACE: duration.default('30 seconds'),
  /** Job activities (download and post-download attempts) one worker runs at once, apart from the short ones. */
  JOB_SLOTS: z.coerce.number().int().min(1).max(1_000).default(10),
  /** How long the scan token a job gets (SCAN_MONITOR_TOKEN) stays valid from its submission. */
  JOB_TOKEN_LIFETIME: duration.default('7 days'),
  /** Reads a queued job's state: `<command…> <job id>`. Default with SUBMIT_COMMAND=sbatch: `squeue -h -o %T -j`. */
  JOB_STATUS_COMMAND: optionalText,
  /** How long a claimed email is reserved for its sender before another attempt may send it. */
  EMAIL_LEASE: duration.default('2 minutes'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  EMBEDDED_TEMPORAL_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  /** `npm run worker` serves GET /metrics on this port (emails sent are counted in the worker); unset: none. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** `npm run worker` serves the Temporal SDK's metrics (slots, sticky cache, requests) on this port; unset: none. */
  WORKER_SDK_METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  // Worker tuning (src/temporal/worker-tuning.ts, docs/operating.md "Tuning the worker"); the others unset: the SDK's default.
  /** Monitors kept in the worker's memory between their workflow tasks: a waiting monitor needs none. */
  WORKER_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(1_000_000).default(100),
  WORKER_WORKFLOW_TASK_SLOTS: z.coerce.number().int().min(2).max(10_000).optional(),
  WORKER_ACTIVITY_SLOTS: z.coerce.number().int().min(1).max(10_000).optional(),
  WORKER_LOCAL_ACTIVITY_SLOTS: z.coerce.number().int().min(1).max(10_000).optional(),
  WORKER_REUSE_V8_CONTEXT: z.enum(['true', 'false']).optional(),
});

export interface Config {
  port: number;
  /** The address the API listens on (HOST). */
  host: string;
  dataDir: string;
  /** Unset: `npm start` runs an embedded PostgreSQL. */
  databaseUrl?: string;
  /** Unset: `npm start` runs a Temporal dev server. */
  temporalAddress?: string;
  temporalNamespace: string;
  taskQueue: string;
  smtpUrl?: string;
  mailFrom: string;
  /** Unset, or `DET_SECRET=none`: triggers need no secret. */
  detSecret?: string;
  /** `DET_SECRET=none`: the operator accepts triggers without a secret off loopback. */
  detSecretWaived: boolean;
  apiToken?: string;
  submit: {
    command: string;
    options: string[];
    scriptsDir: string;
    /** Set when the submit command queues the job (sbatch): the command that reads a job's state, its id appended. */
    statusCommand?: string[];
    /** What a job's scan token is made with (src/jobs/scan-token.ts); unset without API_TOKEN (nothing to sign with). */
    scanToken?: { apiToken: string; lifetimeMs: number };
  };
  /** Job activities one worker runs at once (their own task queue, src/worker.ts). */
  jobSlots: number;
  shutdownGraceMs: number;
  emailLeaseMs: number;
  durations: {
    scanCheckDelayMs: number;
    downloadWindowMs: number;
    downloadRetryInitialMs: number;
    downloadRetryMaxMs: number;
  };
  /** Reconciliation of each REDCap config (docs/redcap.md "Reconciliation"): how often (null: `off`), and how far back a first run looks. */
  reconcile: { intervalMs: number | null; lookbackMs: number };
  workerMetricsPort?: number;
  workerSdkMetricsPort?: number;
  /** Worker options a lab may override (src/temporal/worker-tuning.ts); undefined: the SDK's default. */
  worker: {
    cachedWorkflows: number;
    workflowTaskSlots?: number;
    activitySlots?: number;
    localActivitySlots?: number;
    reuseV8Context?: boolean;
  };
  logLevel: string;
  embeddedPostgresPort: number;
  /** The frontend port of the Temporal dev server of `npm start`. */
  embeddedTemporalPort: number;
  temporalUiPort: number;
}

export class ConfigError extends StartupError {}

const words = (text: string) => text.split(/\s+/).filter(Boolean);

/**
 * How a queued job's state is read: JOB_STATUS_COMMAND, or for sbatch Slurm's `squeue -h -o %T -j <id>`;
 * undefined when the submit command runs the job itself (bash), so that its end is the job's end.
 */
function jobStatusCommand(submitCommand: string, configured: string | undefined): string[] | undefined {
  if (configured !== undefined) return words(configured);
  return path.basename(submitCommand) === 'sbatch' ? ['squeue', '-h', '-o', '%T', '-j'] : undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (e.DOWNLOAD_RETRY_MAX < e.DOWNLOAD_RETRY_INITIAL) {
    throw new ConfigError('Invalid environment: DOWNLOAD_RETRY_MAX must not be shorter than DOWNLOAD_RETRY_INITIAL');
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    temporalAddress: e.TEMPORAL_ADDRESS,
    temporalNamespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    detSecret: e.DET_SECRET === 'none' ? undefined : e.DET_SECRET,
    detSecretWaived: e.DET_SECRET === 'none',
    apiToken: e.API_TOKEN,
    submit: {
      command: e.SUBMIT_COMMAND,
      options: words(e.SUBMIT_OPTIONS),
      scriptsDir: path.resolve(e.SUBMIT_SCRIPTS),
      statusCommand: jobStatusCommand(e.SUBMIT_COMMAND, e.JOB_STATUS_COMMAND),
      scanToken: e.API_TOKEN ? { apiToken: e.API_TOKEN, lifetimeMs: e.JOB_TOKEN_LIFETIME } : undefined,
    },
    jobSlots: e.JOB_SLOTS,
    shutdownGraceMs: e.SHUTDOWN_GRACE,
    emailLeaseMs: e.EMAIL_LEASE,
    durations: {
      scanCheckDelayMs: e.SCAN_CHECK_DELAY,
      downloadWindowMs: e.DOWNLOAD_WINDOW,
      downloadRetryInitialMs: e.DOWNLOAD_RETRY_INITIAL,
      downloadRetryMaxMs: e.DOWNLOAD_RETRY_MAX,
    },
    reconcile: { intervalMs: e.RECONCILE_INTERVAL, lookbackMs: e.RECONCILE_LOOKBACK },
    logLevel: e.LOG_LEVEL,
    embeddedPostgresPort: e.EMBEDDED_POSTGRES_PORT,
    embeddedTemporalPort: e.EMBEDDED_TEMPORAL_PORT,
    temporalUiPort: e.TEMPORAL_UI_PORT,
    workerMetricsPort: e.WORKER_METRICS_PORT,
    workerSdkMetricsPort: e.WORKER_SDK_METRICS_PORT,
    worker: {
      cachedWorkflows: e.WORKER_CACHED_WORKFLOWS,
      workflowTaskSlots: e.WORKER_WORKFLOW_TASK_SLOTS,
      activitySlots: e.WORKER_ACTIVITY_SLOTS,
      localActivitySlots: e.WORKER_LOCAL_ACTIVITY_SLOTS,
      reuseV8Context: e.WORKER_REUSE_V8_CONTEXT === undefined ? undefined : e.WORKER_REUSE_V8_CONTEXT === 'true',
    },
  };
}

/** The settings a production process cannot run without. */
export function requireServices(config: Config): Config & { databaseUrl: string; temporalAddress: string } {
  const missing = [!config.databaseUrl && 'DATABASE_URL', !config.temporalAddress && 'TEMPORAL_ADDRESS'].filter(
    Boolean,
  );
  if (missing.length > 0) {
    throw new ConfigError(
      `${missing.join(' and ')} must be set for this process (npm start runs embedded services instead)`,
    );
  }
  return config as Config & { databaseUrl: string; temporalAddress: string };
}

/** True for addresses only this machine reaches: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const address = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (address === 'localhost') return true;
  if (net.isIPv4(address)) return address.startsWith('127.');
  if (net.isIPv6(address)) return address === '::1' || /^::ffff:127\./.test(address);
  return false;
}

/**
 * Off loopback, anyone who can reach the API could send forged triggers (each one reads REDCap with the lab's token
 * and may email the admins): the API refuses to start without DET_SECRET, unless DET_SECRET=none accepts that risk.
 */
export function assertSafeExposure(config: Config): void {
  if (isLoopback(config.host) || config.detSecret || config.detSecretWaived) return;
  throw new ConfigError(
    `HOST=${config.host} is not a loopback address and DET_SECRET is unset: anyone who reaches the API could send forged triggers. ` +
      'Set DET_SECRET (REDCap then calls /redcap?secret=<it>), or DET_SECRET=none to accept that risk, or HOST=127.0.0.1',
  );
}
