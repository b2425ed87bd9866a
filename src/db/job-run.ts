/**
 * The ledger of download and post-download jobs (src/jobs/ledger.ts): one row per submission. A row stays
 * `running` until the job is known to have ended, and PostgreSQL keeps at most one running row per session
 * and kind (a partial unique index), so a session never has two download jobs at once, whichever worker asks.
 */
import { BigIntType, EntitySchema, OptionalProps } from '@mikro-orm/core';

export type JobKind = 'download' | 'post-download';

/**
 * `running`: running on a worker (bash), or submitted to a queue (sbatch) and not known to have ended.
 * `ended`: a queued job the status command no longer reports as queued or running.
 * `succeeded` / `failed`: a job run by the submit command itself exited 0 / non-zero, or a submission failed.
 * `interrupted`: we stopped it (worker shutdown past its grace, monitor cancelled); not held against the job.
 * `lost`: its worker died and the job is gone.
 */
export type JobRunStatus = 'running' | 'ended' | 'succeeded' | 'failed' | 'interrupted' | 'lost';

export class JobRun {
  [OptionalProps]?: 'status' | 'submittedAt' | 'aliveAt';
  id!: number;
  sessionId!: string;
  kind!: JobKind;
  /** The command line, e.g. `sbatch …/download.sh SPN01 SPN01_CMH_0001_01_01`. */
  command!: string;
  /** The monitor run and activity attempt that submitted it. */
  workflowId!: string;
  runId!: string;
  attempt!: number;
  /** Where it was submitted from (for ops: a hostname identifies nothing, containers may share one). */
  host!: string;
  /** The worker process that submitted it (src/jobs/ledger.ts RUNNER); null on rows from before runners had ids. */
  runner?: string | null;
  /** For a job run by the submit command itself: its process group, where pids mean that (boot id and pid namespace). */
  pid?: number | null;
  pidSpace?: string | null;
  /** When that process started (clock ticks since boot): with the pid, the job's identity (a pid may be reused). */
  pidStart?: number | null;
  /** The queue's id for it (`Submitted batch job 123`); null when the submit command runs the job itself. */
  jobId?: string | null;
  status: JobRunStatus = 'running';
  exitCode?: number | null;
  /** The end of its stderr (or of the status command's answer), for the attempt's failure and for ops. */
  detail?: string | null;
  submittedAt: Date = new Date();
  /** Renewed while a worker runs the job: a row on another host not renewed for 2 minutes is a lost job. */
  aliveAt: Date = new Date();
  endedAt?: Date | null;
}

export const JobRunSchema = new EntitySchema<JobRun>({
  class: JobRun,
  tableName: 'job_run',
  indexes: [
    {
      name: 'job_run_one_running_per_session',
      expression: `create unique index "job_run_one_running_per_session" on "job_run" ("session_id", "kind") where "status" = 'running'`,
    },
  ],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    sessionId: { type: 'string', length: 80, index: true },
    kind: { type: 'string', length: 16 },
    command: { type: 'text' },
    workflowId: { type: 'string', length: 255 },
    runId: { type: 'string', length: 64 },
    attempt: { type: 'number' },
    host: { type: 'string', length: 255 },
    runner: { type: 'uuid', nullable: true },
    pid: { type: 'number', nullable: true },
    pidSpace: { type: 'string', length: 100, nullable: true },
    pidStart: { type: new BigIntType('number'), nullable: true },
    jobId: { type: 'string', length: 64, nullable: true },
    status: { type: 'string', length: 16, default: 'running' },
    exitCode: { type: 'number', nullable: true },
    detail: { type: 'text', nullable: true },
    submittedAt: { type: 'datetime', onCreate: () => new Date() },
    aliveAt: { type: 'datetime', onCreate: () => new Date() },
    endedAt: { type: 'datetime', nullable: true },
  },
});
