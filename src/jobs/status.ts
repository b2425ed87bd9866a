/**
 * Jobs a submit command queues (sbatch): the id it prints, and their state read with JOB_STATUS_COMMAND
 * (`<command…> <job id>`, default Slurm's `squeue -h -o %T -j <id>`). The state is the first word of its
 * answer, in Slurm's names (PENDING, RUNNING, COMPLETED, …) or short codes (PD, R, CD, …); no answer, or
 * squeue's "Invalid job id" for a job it has forgotten, means the job is no longer queued or running.
 * Anything else is `unknown`, and the caller submits nothing while it cannot tell.
 */
import { execFile } from 'node:child_process';
import { jobEnvironment } from './submit';

export interface QueuedJobState {
  state: 'active' | 'ended' | 'unknown';
  /** What the status command answered (or why it could not), for the attempt's failure and the log. */
  detail: string;
}

/** Slurm's states of a job still queued or running (long names and squeue's %t codes). */
const ACTIVE = new Set(
  'PENDING PD RUNNING R CONFIGURING CF COMPLETING CG SUSPENDED S REQUEUED RQ REQUEUE_FED RF REQUEUE_HOLD RH RESIZING RS SIGNALING SI STAGE_OUT SO STOPPED ST RESV_DEL_HOLD RD'.split(
    ' ',
  ),
);
/** Slurm's states of a job that has ended. */
const ENDED = new Set(
  'COMPLETED CD CANCELLED CA FAILED F TIMEOUT TO NODE_FAIL NF PREEMPTED PR BOOT_FAIL BF DEADLINE DL OUT_OF_MEMORY OOM REVOKED RV SPECIAL_EXIT SE'.split(
    ' ',
  ),
);

/** The job id a submit command printed: sbatch's `Submitted batch job 123`, or `sbatch --parsable`'s `123[;cluster]`. */
export function queuedJobId(stdout: string): string | null {
  const batch = /Submitted batch job (\S+)/.exec(stdout);
  if (batch) return batch[1];
  const parsable = /^\s*(\d+)(;\S+)?\s*$/.exec(stdout);
  return parsable ? parsable[1] : null;
}

/** Reads what a status command answered. */
export function interpretJobStatus(answer: {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}): QueuedJobState {
  const said = (answer.stdout.trim() || answer.stderr.trim()).split('\n')[0].slice(0, 500);
  if (answer.exitCode === 0) {
    const word = answer.stdout.trim().split(/\s+/)[0]?.toUpperCase() ?? '';
    if (word === '') return { state: 'ended', detail: 'no longer in the queue' };
    if (ACTIVE.has(word)) return { state: 'active', detail: word };
    if (ENDED.has(word)) return { state: 'ended', detail: word };
    return { state: 'unknown', detail: `unrecognised state "${said}"` };
  }
  if (/invalid job id/i.test(answer.stderr)) return { state: 'ended', detail: 'no longer known to the queue' };
  return {
    state: 'unknown',
    detail: `status command exited ${answer.exitCode ?? 'on a signal'}: ${said || '(no output)'}`,
  };
}

/** Runs `<command…> <jobId>` (30 s at most) and interprets its answer. */
export function readJobState(command: string[], jobId: string, cwd: string): Promise<QueuedJobState> {
  const [file, ...args] = command;
  return new Promise((resolve) => {
    execFile(
      file,
      [...args, jobId],
      { cwd, env: jobEnvironment(process.env), timeout: 30_000 },
      (err, stdout, stderr) => {
        const failure = err as (Error & { code?: string | number | null; killed?: boolean }) | null;
        if (failure && typeof failure.code === 'string') {
          resolve({
            state: 'unknown',
            detail: `cannot run JOB_STATUS_COMMAND "${command.join(' ')}": ${failure.code}`,
          });
          return;
        }
        if (failure?.killed) {
          resolve({ state: 'unknown', detail: `JOB_STATUS_COMMAND "${command.join(' ')}" took longer than 30 s` });
          return;
        }
        resolve(interpretJobStatus({ exitCode: failure ? Number(failure.code ?? 1) : 0, stdout, stderr }));
      },
    );
  });
}
