/**
 * Every environment variable the service reads, parsed and validated once.
 * A bad value stops the process at start with a message that names the variable.
 */
import path from 'node:path';
import { msToNumber, type Duration } from '@temporalio/common';
import { z } from 'zod';
import { StartupError } from './startup-failure';

/** A duration in the forms Temporal accepts ("2 days", "90s", "1h"), as milliseconds. */
export function toMillis(value: string, ctx: z.RefinementCtx): number {
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

/** True for a zone the Intl API knows (the one Temporal's schedules use too). */
function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

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
  /** When each study's daily digest goes out (HH:MM in TZ), or `off`. */
  DIGEST_AT: z
    .string()
    .trim()
    .regex(/^(off|([01]\d|2[0-3]):[0-5]\d)$/i, 'must be a time of day as HH:MM (e.g. 08:00), or off')
    .default('08:00'),
  /** The zone of DIGEST_AT (an IANA name such as America/Toronto); unset: UTC. */
  TZ: optionalText.refine((zone) => zone === undefined || isTimeZone(zone), {
    message: 'must be an IANA time zone such as America/Toronto or UTC',
  }),
  /** The service's URL as people reach it: links in the digest go to its lab pages. */
  PUBLIC_URL: url(['http:', 'https:']),
  /** On SIGTERM/SIGINT the worker stops polling and lets running activities finish for this long, then cancels them. */
  SHUTDOWN_GRACE: duration.default('30 seconds'),
  /** Job activities (download and post-download attempts) one worker runs at once, apart from the short ones. */
  JOB_SLOTS: z.coerce.number().int().min(1).max(1_000).default(10),
  /** Reads a queued job's state: `<command…> <job id>`. Default with SUBMIT_COMMAND=sbatch: `squeue -h -o %T -j`. */
  JOB_STATUS_COMMAND: optionalText,
  /** How long a claimed email is reserved for its sender before another attempt may send it. */
  EMAIL_LEASE: duration.default('2 minutes'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
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
  dataDir: string;
  /** Unset: `npm start` runs an embedded PostgreSQL. */
  databaseUrl?: string;
  /** Unset: `npm start` runs a Temporal dev server. */
  temporalAddress?: string;
  temporalNamespace: string;
  taskQueue: string;
  smtpUrl?: string;
  mailFrom: string;
  detSecret?: string;
  apiToken?: string;
  submit: {
    command: string;
    options: string[];
    scriptsDir: string;
    /** Set when the submit command queues the job (sbatch): the command that reads a job's state, its id appended. */
    statusCommand?: string[];
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
  /** The daily digest of each study (docs/email.md "The daily digest"): its time of day (null: `off`) and zone. */
  digest: { at: { hour: number; minute: number } | null; timeZone: string };
  /** PUBLIC_URL without its trailing '/'; unset: links go to REDCap instead of the lab pages. */
  publicUrl?: string;
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

function timeOfDay(value: string): { hour: number; minute: number } | null {
  if (/^off$/i.test(value)) return null;
  const [hour, minute] = value.split(':').map(Number);
  return { hour, minute };
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
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    temporalAddress: e.TEMPORAL_ADDRESS,
    temporalNamespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    detSecret: e.DET_SECRET,
    apiToken: e.API_TOKEN,
    submit: {
      command: e.SUBMIT_COMMAND,
      options: words(e.SUBMIT_OPTIONS),
      scriptsDir: path.resolve(e.SUBMIT_SCRIPTS),
      statusCommand: jobStatusCommand(e.SUBMIT_COMMAND, e.JOB_STATUS_COMMAND),
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
    digest: { at: timeOfDay(e.DIGEST_AT), timeZone: e.TZ ?? 'UTC' },
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    logLevel: e.LOG_LEVEL,
    embeddedPostgresPort: e.EMBEDDED_POSTGRES_PORT,
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
