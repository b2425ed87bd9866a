/**
 * Submitting a lab's job script: `SUBMIT_COMMAND [SUBMIT_OPTIONS…] SUBMIT_SCRIPTS/<script> <study> <session>`
 * (e.g. `bash` runs it here, `sbatch` queues it on a cluster). The exit status, stdout and stderr are
 * captured. A script outside SUBMIT_SCRIPTS, a missing script or a missing command is an error no retry fixes.
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
    throw new JobScriptMissingError(`Job script "${script}" is not inside SUBMIT_SCRIPTS (${dir}); give a file name relative to it`);
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
  const secret = (name: string) => ['DATABASE_URL', 'SMTP_URL', 'DET_SECRET'].includes(name) || (/TOKEN/.test(name) && name !== 'API_TOKEN');
  return Object.fromEntries(Object.entries(env).filter(([name]) => !secret(name)));
}

export async function submitJob(
  settings: SubmitSettings,
  script: string,
  args: { study: string; session: string },
  options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<JobResult> {
  const file = jobScriptPath(settings, script);
  const argv = [...settings.options, file, args.study, args.session];
  const command = [settings.command, ...argv].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(settings.command, argv, {
      cwd: path.dirname(file),
      env: { ...jobEnvironment(process.env), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: options.signal,
      killSignal: 'SIGTERM',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-KEEP)));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-KEEP)));
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        reject(new SubmitCommandMissingError(`Cannot run SUBMIT_COMMAND "${settings.command}": ${err.code}; install it or set SUBMIT_COMMAND`));
      } else {
        reject(err);
      }
    });
    child.once('close', (exitCode, signal) => resolve({ command, exitCode, signal, stdout, stderr }));
  });
}
