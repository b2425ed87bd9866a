/**
 * Submitting a lab's job script: `SUBMIT_COMMAND [SUBMIT_OPTIONS…] SUBMIT_SCRIPTS/<script> <study> <session>`
 * (e.g. `bash` runs it here, `sbatch` queues it on a cluster). The exit status, stdout and stderr are
 * captured. A script outside SUBMIT_SCRIPTS, a missing script or a missing command is an error no retry fixes.
 *
 * The command runs in a process group of its own: a Ctrl-C at the terminal or a signal to the worker does not
 * reach it (the worker decides when a job stops: SHUTDOWN_GRACE), and stopping it stops everything it started.
 *
 * A job gets what it needs and no more: the worker's environment without the service's secrets, and a scan token of
 * its own (SCAN_MONITOR_TOKEN) that registers scans of its session only. What it prints is scrubbed of secrets
 * before anything keeps it (its failure, the Web UI, the log, the job ledger).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { createScanToken } from './scan-token';

export type SubmitSettings = Config['submit'];

export interface JobResult {
  command: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last 4 kB of each stream, scrubbed of secrets (secretScrubber). */
  stdout: string;
  stderr: string;
}

/** The script is not in SUBMIT_SCRIPTS (or its name leaves that directory). */
export class JobScriptMissingError extends Error {
  override name = 'JobScriptMissing';
}
/** SUBMIT_COMMAND cannot be started. */
export class SubmitCommandMissingError extends Error {
  override name = 'SubmitCommandMissing';
}

const KEEP = 4_096;

/** The script's path under SUBMIT_SCRIPTS; throws JobScriptMissingError naming it when it is not there. */
function jobScriptPath(settings: SubmitSettings, script: string): string {
  const dir = path.resolve(settings.scriptsDir);
  const file = path.resolve(dir, script);
  if (!file.startsWith(dir + path.sep)) {
    throw new JobScriptMissingError(
      `Job script "${script}" is not inside SUBMIT_SCRIPTS (${dir}); give a file name relative to it`,
    );
  }
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
    throw new JobScriptMissingError(`Job script "${script}" not found: ${file} does not exist (SUBMIT_SCRIPTS=${dir})`);
  }
  return file;
}

/** The service's settings that hold credentials. */
const SERVICE_SECRETS = new Set(['DATABASE_URL', 'SMTP_URL', 'DET_SECRET', 'API_TOKEN']);
/** Names that say a variable holds a credential (REDCAP_TOKEN_SPN01, XNAT_PASSWORD, TEMPORAL_CODEC_KEY, …). */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|(^|_)(KEY|PASS)$/i;
/** A URL with a password in it (postgresql://user:password@host/db). */
const URL_PASSWORD = /\/\/[^/\s@:]*:([^/\s@]+)@/;

const isSecret = (name: string, value = '') =>
  SERVICE_SECRETS.has(name) || SECRET_NAME.test(name) || URL_PASSWORD.test(value);

/**
 * The environment a job gets: the worker's, without anything that holds a credential (the service's database, SMTP,
 * DET secret and API token, REDCap tokens, any *TOKEN*, *SECRET*, *PASSWORD* or *_KEY variable, any URL with a
 * password), which a job has no use for and `sbatch` would carry to the cluster. It registers its scans with its
 * own scan token (SCAN_MONITOR_TOKEN), added by submitJob.
 */
export function jobEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name, value]) => !isSecret(name, value)));
}

/** What a job prints, without the worker's secrets, any scan token and any bearer token in a header. */
export function secretScrubber(env: NodeJS.ProcessEnv): (text: string) => string {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!value || !isSecret(name, value)) continue;
    values.add(value);
    const password = URL_PASSWORD.exec(value)?.[1];
    if (password) values.add(password).add(decodeURIComponentSafe(password));
  }
  // Longest first, so that a secret containing another is removed whole; very short values would only blank words.
  const secrets = [...values]
    .filter((value) => value.length >= 4 && value !== 'none')
    .sort((a, b) => b.length - a.length);
  return (text) =>
    secrets
      .reduce((out, secret) => out.split(secret).join('[redacted]'), text)
      .replace(/\bscan1\.[\w-]+\.\d+\.[\w-]+/g, '[redacted]')
      .replace(/(authorization:\s*bearer\s+)\S+/gi, '$1[redacted]');
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** How long a stopped job gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 10_000;

/** The command line a submission runs; throws JobScriptMissingError naming the script when it is not there. */
export function jobCommand(settings: SubmitSettings, script: string, args: { study: string; session: string }) {
  const file = jobScriptPath(settings, script);
  const argv = [...settings.options, file, args.study, args.session];
  return { file, argv, command: [settings.command, ...argv].join(' ') };
}

/**
 * Runs the submission to its end. `signal` stops it (SIGTERM to its process group, SIGKILL 10 s later) and
 * rejects with an AbortError once it has exited; `onStart` gets its process group id.
 */
export async function submitJob(
  settings: SubmitSettings,
  script: string,
  args: { study: string; session: string },
  options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv; onStart?: (pid: number) => void } = {},
): Promise<JobResult> {
  const { file, argv, command } = jobCommand(settings, script, args);
  options.signal?.throwIfAborted();
  const scrub = secretScrubber(process.env);
  const token = settings.scanToken;
  const scanToken = token
    ? { SCAN_MONITOR_TOKEN: createScanToken(token.apiToken, args.session, new Date(Date.now() + token.lifetimeMs)) }
    : {};
  return new Promise((resolve, reject) => {
    const child = spawn(settings.command, argv, {
      cwd: path.dirname(file),
      env: { ...jobEnvironment(process.env), ...scanToken, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    };
    const stop = () => {
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), STOP_GRACE_MS);
    };
    // Twice what is kept until the end: a secret cut in two by the window is still found whole by the scrubber.
    child.stdout.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-2 * KEEP)));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2 * KEEP)));
    child.once('spawn', () => {
      options.onStart?.(child.pid!);
      options.signal?.addEventListener('abort', stop, { once: true });
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        reject(
          new SubmitCommandMissingError(
            `Cannot run SUBMIT_COMMAND "${settings.command}": ${err.code}; install it or set SUBMIT_COMMAND`,
          ),
        );
      } else {
        reject(err);
      }
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', stop);
      if (options.signal?.aborted) reject(new AbortError(`${command} aborted: stopped (exit ${exitCode ?? signal})`));
      else
        resolve({ command, exitCode, signal, stdout: scrub(stdout).slice(-KEEP), stderr: scrub(stderr).slice(-KEEP) });
    });
  });
}

/** The job was stopped on request (the signal of submitJob). */
export class AbortError extends Error {
  override name = 'AbortError';
}
