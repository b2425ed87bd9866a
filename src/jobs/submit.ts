/**
 * Submitting a lab's job script: `SUBMIT_COMMAND [SUBMIT_OPTIONS…] SUBMIT_SCRIPTS/<script> <study> <session>`
 * (e.g. `bash` runs it here, `sbatch` queues it on a cluster). The exit status, stdout and stderr are
 * captured. A script outside SUBMIT_SCRIPTS, a missing script or a missing command is an error no retry fixes.
 *
 * The command runs in a process group of its own: a Ctrl-C at the terminal or a signal to the worker does not
 * reach it (the worker decides when a job stops: SHUTDOWN_GRACE), and stopping it stops everything it started.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';

export type SubmitSettings = Config['submit'];

export interface JobResult {
  command: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last 4 kB of each stream. */
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

/**
 * The environment a job gets: the worker's, without the service's own secrets (database, SMTP, DET secret,
 * REDCap tokens), which a job has no use for and `sbatch` would carry to the cluster. API_TOKEN stays: the
 * job registers scans with it (POST /sessions/:id/scans).
 */
export function jobEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const secret = (name: string) =>
    ['DATABASE_URL', 'SMTP_URL', 'DET_SECRET'].includes(name) || (/TOKEN/.test(name) && name !== 'API_TOKEN');
  return Object.fromEntries(Object.entries(env).filter(([name]) => !secret(name)));
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
  return new Promise((resolve, reject) => {
    const child = spawn(settings.command, argv, {
      cwd: path.dirname(file),
      env: { ...jobEnvironment(process.env), ...options.env },
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
    child.stdout.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-KEEP)));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-KEEP)));
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
      else resolve({ command, exitCode, signal, stdout, stderr });
    });
  });
}

/** The job was stopped on request (the signal of submitJob). */
export class AbortError extends Error {
  override name = 'AbortError';
}
