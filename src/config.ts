/**
 * Every environment variable the service reads, parsed and validated once.
 * A bad value stops the process at start with a message that names the variable.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { msToNumber, type Duration } from '@temporalio/common';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { z } from 'zod';
import { StartupError } from './startup-failure';
import type { CodecKey } from './temporal/data-converter';

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
  XNAT_SYNC_INTERVAL: durationOrOff.default('1 hour'),
  XNAT_SYNC_LOOKBACK: duration.default('7 days'),
  XNAT_TIMEOUT: duration.default('10 seconds'),
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
  WORKER_REUSE_V8_CONTEXT: z.enum(['true', 'false']).optional(),
  // Participant data (docs/participant-data.md): payload encryption, TLS to Temporal and PostgreSQL, the codec server.
  TEMPORAL_CODEC_KEYS: optionalText,
  TEMPORAL_CODEC_KEY: optionalText,
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  TEMPORAL_TLS_CA: optionalText,
  TEMPORAL_TLS_CERT: optionalText,
  TEMPORAL_TLS_KEY: optionalText,
  TEMPORAL_TLS_SERVER_NAME: optionalText,
  DATABASE_SSLMODE: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).optional(),
  DATABASE_SSL_CA: optionalText,
  CODEC_SERVER_PORT: z.coerce.number().int().min(1).max(65535).default(8089),
  CODEC_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
  CODEC_SERVER_TOKEN: optionalText,
  CODEC_CORS_ORIGINS: z.string().default('http://localhost:8233,http://127.0.0.1:8233'),
  // The lab's pages (docs/lab.md): logins through the lab's OpenID Connect provider, or API_TOKEN without one.
  OIDC_ISSUER: url(['https:', 'http:']),
  OIDC_CLIENT_ID: optionalText,
  OIDC_CLIENT_SECRET: optionalText,
  /** The service's URL as people reach it; the OpenID Connect callback is PUBLIC_URL/lab/auth/callback. */
  PUBLIC_URL: url(['https:', 'http:']),
  /** How long a login to the pages lasts. */
  LAB_LOGIN_EXPIRY: duration.default('12 hours'),
  /** The Temporal Web UI as people reach it; default: the one `npm start` embeds (TEMPORAL_UI_PORT). */
  TEMPORAL_UI_URL: url(['https:', 'http:']),
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
  /** XNAT (docs/xnat.md): the sync of each XNAT config (how often, null: `off`; how far back a first run looks), and each request's timeout. */
  xnat: { syncIntervalMs: number | null; syncLookbackMs: number; timeoutMs: number };
  /** The daily digest of each study (docs/email.md "The daily digest"): its time of day (null: `off`) and zone. */
  digest: { at: { hour: number; minute: number } | null; timeZone: string };
  workerMetricsPort?: number;
  workerSdkMetricsPort?: number;
  /** Worker options a lab may override (src/temporal/worker-tuning.ts); undefined: the SDK's default. */
  worker: {
    cachedWorkflows: number;
    workflowTaskSlots?: number;
    activitySlots?: number;
    reuseV8Context?: boolean;
  };
  logLevel: string;
  embeddedPostgresPort: number;
  /** The frontend port of the Temporal dev server of `npm start`. */
  embeddedTemporalPort: number;
  temporalUiPort: number;
  /** Payload encryption (src/temporal/data-converter.ts): the first key encrypts, all decrypt; empty: none. */
  codecKeys: CodecKey[];
  /** TLS to TEMPORAL_ADDRESS (never to the embedded dev server); undefined: plain TCP. */
  temporalTls?: TLSConfig;
  /** TLS to DATABASE_URL (never to the embedded PostgreSQL); undefined: plain TCP. */
  databaseSsl?: DatabaseSsl;
  /** `npm run codec-server`: where it listens, the token it asks for, the Web UI origins it answers. */
  codecServer: { port: number; host: string; token?: string; corsOrigins: string[] };
  lab: LabSettings;
}

/** PostgreSQL's sslmode (libpq's meaning) and the CA that signs the server's certificate (default: the system's). */
export interface DatabaseSsl {
  mode: 'require' | 'verify-ca' | 'verify-full';
  ca?: Buffer;
}

/** The lab's pages (src/lab/). */
export interface LabSettings {
  /** Set: people log in with the lab's OpenID Connect provider; unset: with API_TOKEN. */
  oidc?: { issuer: string; clientId: string; clientSecret: string };
  /** The service's URL as people reach it, without a trailing '/'. */
  publicUrl?: string;
  /** Login cookies are Secure (PUBLIC_URL is https). */
  secureCookies: boolean;
  loginExpiryMs: number;
  /** The Temporal Web UI, without a trailing '/'. */
  temporalUiUrl: string;
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

/** A file named by an environment variable, read; a file that cannot be read names the variable. */
function readFileOf(variable: string, file: string, pem = false): Buffer {
  let content: Buffer;
  try {
    content = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const why = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' }[code] ?? code;
    throw new ConfigError(`${variable}: cannot read ${file} (${why || String(err)})`);
  }
  if (pem && !content.includes('-----BEGIN ')) throw new ConfigError(`${variable}: ${file} is not a PEM file`);
  return content;
}

/** TEMPORAL_CODEC_KEYS (`id:base64key,…`) or TEMPORAL_CODEC_KEY (one key, id `default`); never echoes a key. */
function codecKeys(keys: string | undefined, key: string | undefined): CodecKey[] {
  if (keys !== undefined && key !== undefined)
    throw new ConfigError('Invalid environment: set TEMPORAL_CODEC_KEYS or TEMPORAL_CODEC_KEY, not both');
  const variable = keys !== undefined ? 'TEMPORAL_CODEC_KEYS' : 'TEMPORAL_CODEC_KEY';
  const entries: Array<[string, string]> =
    keys !== undefined
      ? keys
          .split(',')
          .map((entry) => entry.trim())
          .filter(Boolean)
          .map((entry) => {
            const colon = entry.indexOf(':');
            if (colon <= 0)
              throw new ConfigError(`Invalid environment: ${variable}: each entry is <key id>:<base64 key>`);
            return [entry.slice(0, colon).trim(), entry.slice(colon + 1).trim()];
          })
      : key !== undefined
        ? [['default', key.trim()]]
        : [];
  const seen = new Set<string>();
  return entries.map(([id, base64]) => {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
      throw new ConfigError(`Invalid environment: ${variable}: "${id}" is not a key id (letters, digits, . _ -)`);
    if (seen.has(id)) throw new ConfigError(`Invalid environment: ${variable}: key id "${id}" is given twice`);
    seen.add(id);
    if (!/^[A-Za-z0-9+/]{43}=$/.test(base64)) {
      throw new ConfigError(
        `Invalid environment: ${variable}: the key "${id}" is not 32 bytes in base64 (44 characters, as \`openssl rand -base64 32\` prints)`,
      );
    }
    return { id, key: Buffer.from(base64, 'base64') };
  });
}

type Env = z.infer<typeof schema>;

/** TLS to TEMPORAL_ADDRESS: on with TEMPORAL_TLS=true or any TEMPORAL_TLS_* setting; mTLS with a certificate and key. */
function temporalTls(e: Env): TLSConfig | undefined {
  const { TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_SERVER_NAME: name } = e;
  const settings = [
    ca && 'TEMPORAL_TLS_CA',
    cert && 'TEMPORAL_TLS_CERT',
    key && 'TEMPORAL_TLS_KEY',
    name && 'TEMPORAL_TLS_SERVER_NAME',
  ];
  const set = settings.filter((setting): setting is string => Boolean(setting));
  if (e.TEMPORAL_TLS === 'false' && set.length > 0)
    throw new ConfigError(`Invalid environment: TEMPORAL_TLS is false but ${set.join(' and ')} set`);
  if (e.TEMPORAL_TLS !== 'true' && set.length === 0) return undefined;
  if (!e.TEMPORAL_ADDRESS) {
    throw new ConfigError(
      `Invalid environment: ${set[0] ?? 'TEMPORAL_TLS'} is for TEMPORAL_ADDRESS, which is unset (the embedded dev server speaks plain TCP)`,
    );
  }
  if (Boolean(cert) !== Boolean(key))
    throw new ConfigError('Invalid environment: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mTLS)');
  return {
    ...(ca ? { serverRootCACertificate: readFileOf('TEMPORAL_TLS_CA', ca, true) } : {}),
    ...(cert && key
      ? {
          clientCertPair: {
            crt: readFileOf('TEMPORAL_TLS_CERT', cert, true),
            key: readFileOf('TEMPORAL_TLS_KEY', key, true),
          },
        }
      : {}),
    ...(name ? { serverNameOverride: name } : {}),
  };
}

/**
 * DATABASE_URL without its ssl parameters, and the TLS it asks for: `?sslmode=` and `?sslrootcert=` in the URL, or
 * DATABASE_SSLMODE and DATABASE_SSL_CA (which win); a CA without a mode means verify-full.
 */
function databaseTarget(e: Env): { url?: string; ssl?: DatabaseSsl } {
  if (!e.DATABASE_URL) {
    const set = e.DATABASE_SSL_CA
      ? 'DATABASE_SSL_CA'
      : e.DATABASE_SSLMODE && e.DATABASE_SSLMODE !== 'disable'
        ? 'DATABASE_SSLMODE'
        : undefined;
    if (set)
      throw new ConfigError(
        `Invalid environment: ${set} is for DATABASE_URL, which is unset (the embedded PostgreSQL speaks plain TCP)`,
      );
    return {};
  }
  const url = new URL(e.DATABASE_URL);
  const unsupported = ['sslcert', 'sslkey', 'sslpassword', 'sslcrl'].filter((param) => url.searchParams.has(param));
  if (unsupported.length > 0)
    throw new ConfigError(
      `Invalid environment: DATABASE_URL: ${unsupported.join(', ')} is not supported (sslmode and sslrootcert are)`,
    );
  const fromUrl = url.searchParams.get('sslmode') ?? undefined;
  if (fromUrl !== undefined && !['disable', 'require', 'verify-ca', 'verify-full'].includes(fromUrl))
    throw new ConfigError(
      `Invalid environment: DATABASE_URL: sslmode=${fromUrl} is not one of disable, require, verify-ca, verify-full`,
    );
  const caFile = e.DATABASE_SSL_CA ?? url.searchParams.get('sslrootcert') ?? undefined;
  const caVariable = e.DATABASE_SSL_CA ? 'DATABASE_SSL_CA' : 'DATABASE_URL sslrootcert';
  for (const param of ['sslmode', 'sslrootcert']) url.searchParams.delete(param);
  const mode = e.DATABASE_SSLMODE ?? fromUrl ?? (caFile ? 'verify-full' : 'disable');
  if (mode === 'disable') return { url: url.toString() };
  return {
    url: url.toString(),
    ssl: { mode: mode as DatabaseSsl['mode'], ...(caFile ? { ca: readFileOf(caVariable, caFile, true) } : {}) },
  };
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
  const database = databaseTarget(e);
  return {
    lab: labSettings(e),
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: database.url,
    databaseSsl: database.ssl,
    codecKeys: codecKeys(e.TEMPORAL_CODEC_KEYS, e.TEMPORAL_CODEC_KEY),
    temporalTls: temporalTls(e),
    codecServer: {
      port: e.CODEC_SERVER_PORT,
      host: e.CODEC_SERVER_HOST,
      token: e.CODEC_SERVER_TOKEN,
      corsOrigins: words(e.CODEC_CORS_ORIGINS.replace(/,/g, ' ')),
    },
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
    xnat: { syncIntervalMs: e.XNAT_SYNC_INTERVAL, syncLookbackMs: e.XNAT_SYNC_LOOKBACK, timeoutMs: e.XNAT_TIMEOUT },
    digest: { at: timeOfDay(e.DIGEST_AT), timeZone: e.TZ ?? 'UTC' },
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
      reuseV8Context: e.WORKER_REUSE_V8_CONTEXT === undefined ? undefined : e.WORKER_REUSE_V8_CONTEXT === 'true',
    },
  };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;
const withoutTrailingSlash = (value: string) => value.replace(/\/+$/, '');

function labSettings(e: z.output<typeof schema>): LabSettings {
  const publicUrl = e.PUBLIC_URL === undefined ? undefined : withoutTrailingSlash(e.PUBLIC_URL);
  let oidc: LabSettings['oidc'];
  if (e.OIDC_ISSUER !== undefined) {
    const missing = (['OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'PUBLIC_URL'] as const).filter((key) => !e[key]);
    if (missing.length > 0) {
      throw new ConfigError(`Invalid environment: OIDC_ISSUER is set, so ${missing.join(' and ')} must be set too`);
    }
    // Tokens and the client secret cross this connection: plain http only where it never leaves the machine.
    const issuer = new URL(e.OIDC_ISSUER);
    if (issuer.protocol === 'http:' && !LOOPBACK.test(issuer.hostname)) {
      throw new ConfigError('Invalid environment: OIDC_ISSUER must be an https URL (http only on 127.0.0.1)');
    }
    oidc = { issuer: e.OIDC_ISSUER, clientId: e.OIDC_CLIENT_ID!, clientSecret: e.OIDC_CLIENT_SECRET! };
  }
  return {
    oidc,
    publicUrl,
    secureCookies: publicUrl?.startsWith('https:') ?? false,
    loginExpiryMs: e.LAB_LOGIN_EXPIRY,
    temporalUiUrl: withoutTrailingSlash(e.TEMPORAL_UI_URL ?? `http://127.0.0.1:${e.TEMPORAL_UI_PORT}`),
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
