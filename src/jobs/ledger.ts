/**
 * The job ledger (job_run, src/db/job-run.ts): which download and post-download jobs a session has, and
 * whether one is still queued or running. At most one row per session and kind is `running` (PostgreSQL
 * enforces it), so a session never has two jobs of a kind at once, whichever worker or attempt asks.
 *
 * Whether a running row's job still runs: a queued job (it has a job id) by JOB_STATUS_COMMAND; a job its
 * submit command runs (bash) by its process group where that pid means the same process (the same kernel boot and
 * pid namespace, and the same start time: never another container's pids, nor a reused pid), else by its worker's
 * renewal of `aliveAt` (a worker renews it every 30 s; 2 minutes without means the worker and its job are gone).
 * A hostname says nothing here: containers with host networking share one, and their pids.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { JobRun, type JobKind, type JobRunStatus } from '../db/job-run';
import { readJobState, type QueuedJobState } from './status';

export const HOST = os.hostname();
/** This worker process, whatever its host or pid: recorded on each row it claims. */
export const RUNNER = randomUUID();
/** Where a pid names one process: this kernel's boot and this pid namespace; undefined without /proc (then no pid is probed). */
export const PID_SPACE = readPidSpace();
export const ALIVE_EVERY_MS = 30_000;
const LOST_AFTER_MS = 2 * 60_000;

export type NewJobRun = Pick<JobRun, 'sessionId' | 'kind' | 'command' | 'workflowId' | 'runId' | 'attempt'>;

/** Records a job about to be submitted; null when the session already has a running job of that kind. */
export async function claimJobRun(em: EntityManager, job: NewJobRun): Promise<JobRun | null> {
  const row = em.create(JobRun, { ...job, host: HOST, runner: RUNNER, pidSpace: PID_SPACE ?? null });
  try {
    await em.flush();
    return row;
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) return null;
    throw err;
  }
}

export function runningJob(em: EntityManager, sessionId: string, kind: JobKind): Promise<JobRun | null> {
  return em.findOne(JobRun, { sessionId, kind, status: 'running' });
}

export async function updateJobRun(
  em: EntityManager,
  id: number,
  changes: Partial<Pick<JobRun, 'pid' | 'jobId' | 'detail'>>,
): Promise<void> {
  await em.nativeUpdate(JobRun, { id }, changes);
}

/** The job's process has started: its process group, and its start time as the kernel has it (its identity with the pid). */
export async function recordJobStart(em: EntityManager, id: number, pid: number): Promise<void> {
  await em.nativeUpdate(JobRun, { id }, { pid, pidStart: processStart(pid) ?? null });
}

export async function endJobRun(
  em: EntityManager,
  id: number,
  end: { status: Exclude<JobRunStatus, 'running'>; exitCode?: number | null; detail?: string | null },
): Promise<void> {
  await em.nativeUpdate(JobRun, { id }, { ...end, pid: null, endedAt: new Date() });
}

export async function renewJobRun(em: EntityManager, id: number): Promise<void> {
  await em.nativeUpdate(JobRun, { id }, { aliveAt: new Date() });
}

/** Failed runs of a kind in one monitor run (interrupted ones do not count). */
export function failedJobRuns(em: EntityManager, runId: string, kind: JobKind): Promise<number> {
  return em.count(JobRun, { runId, kind, status: 'failed' });
}

/** The session's latest job runs, newest first, as GET /sessions/:id shows them (a failed job's stderr in `detail`). */
export async function sessionJobRuns(em: EntityManager, sessionId: string, limit = 10) {
  const rows = await em.find(JobRun, { sessionId }, { orderBy: { id: 'desc' }, limit });
  return rows.map((row) => ({
    id: row.id,
    kind: row.kind,
    status: row.status,
    exitCode: row.exitCode ?? null,
    jobId: row.jobId ?? null,
    submittedAt: row.submittedAt.toISOString(),
    endedAt: row.endedAt ? row.endedAt.toISOString() : null,
    detail: row.detail ?? null,
  }));
}

/**
 * Whether the job of a running row still runs. A job that has ended is marked so (`ended`, or `lost` when its
 * worker died); `unknown` when its state cannot be read.
 */
export async function settleJobRun(
  em: EntityManager,
  row: JobRun,
  statusCommand: string[] | undefined,
  cwd: string,
): Promise<QueuedJobState> {
  const state = await probe(row, statusCommand, cwd);
  if (state.state === 'ended')
    await endJobRun(em, row.id, { status: row.jobId ? 'ended' : 'lost', detail: state.detail });
  return state;
}

async function probe(row: JobRun, statusCommand: string[] | undefined, cwd: string): Promise<QueuedJobState> {
  if (row.jobId) {
    if (!statusCommand)
      return {
        state: 'unknown',
        detail: `job ${row.jobId} was queued, and no JOB_STATUS_COMMAND is set to read its state`,
      };
    return readJobState(statusCommand, row.jobId, cwd);
  }
  if (row.pid == null) {
    return {
      state: 'unknown',
      detail: `${row.command} printed no job id (expected "Submitted batch job <id>"), so its state cannot be read`,
    };
  }
  if (PID_SPACE && row.pidSpace === PID_SPACE && row.pidStart != null) {
    return jobProcessAlive(row.pid, row.pidStart)
      ? { state: 'active', detail: `running on this machine (process group ${row.pid})` }
      : { state: 'ended', detail: `its worker stopped and its process group ${row.pid} is gone` };
  }
  const worker = `${row.host}${row.runner ? ` (worker ${row.runner})` : ''}`;
  return Date.now() - row.aliveAt.getTime() < LOST_AFTER_MS
    ? { state: 'active', detail: `running on ${worker}` }
    : { state: 'ended', detail: `its worker on ${worker} has not renewed it since ${row.aliveAt.toISOString()}` };
}

/**
 * Whether the job's process group still runs. While any process of a group lives its id is not given to another
 * process; once the leader is gone and its pid reused, the start time tells the new process from the job.
 */
function jobProcessAlive(pgid: number, start: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const leaderStart = processStart(pgid);
  return leaderStart === undefined || leaderStart === start;
}

/** When a process started, in clock ticks since boot (field 22 of /proc/<pid>/stat); undefined when it is gone. */
function processStart(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

function readPidSpace(): string | undefined {
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `${boot}/${fs.readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return undefined;
  }
}
