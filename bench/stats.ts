/** Small helpers for benchmark figures: percentiles, bounded concurrency, the RSS of a process, metrics, output. */
import fs from 'node:fs';
import os from 'node:os';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once; returns each call's latency in ms. */
export async function runPool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        const started = performance.now();
        await task(i);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

/** Runs `task` in `concurrency` loops for `durationMs`; returns the sorted latencies (ms) of the calls made. */
export async function runFor(durationMs: number, concurrency: number, task: () => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  const deadline = performance.now() + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await task();
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

/** Current and peak resident set size of a process, in MiB (Linux /proc). */
export function rssMiB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** Prints lines of the bench, each starting with the machine's cores and the Temporal server kind. */
export function printer(server: string): (line: string) => void {
  const where = `${os.cpus().length} cores, ${server} server`;
  return (line) => console.log(`[${where}] ${line}`);
}

/** One scrape of a Prometheus text endpoint. */
export interface Metrics {
  /** The sum of every sample of `name` whose labels contain `labels` (e.g. 'operation="PollWorkflowTaskQueue"'). */
  sum(name: string, labels?: string): number;
}

export async function scrapeMetrics(url: string): Promise<Metrics> {
  const text = await (await fetch(url)).text();
  const samples = text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => /^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map(([, name, labels = '', value]) => ({ name, labels, value: Number(value) }));
  return {
    sum: (name, labels = '') =>
      samples
        .filter((sample) => sample.name === name && sample.labels.includes(labels))
        .reduce((total, sample) => total + sample.value, 0),
  };
}

const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ

/**
 * CPU seconds (user + system) used so far by the processes under this one, grouped: `worker` (the process `workerPid`
 * and its children), `temporal` (any Temporal server), `postgres`, and `bench` (this process). CPU time, unlike a
 * rate, hardly changes with what else the machine runs.
 */
export function cpuSeconds(workerPid: number): Record<'worker' | 'temporal' | 'postgres' | 'bench', number> {
  const procs = new Map<number, { ppid: number; comm: string; ticks: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // utime + stime, and for the others cutime + cstime too: an exited PostgreSQL backend's time moves to its parent.
    const own = Number(fields[11]) + Number(fields[12]);
    const ticks = Number(entry) === process.pid ? own : own + Number(fields[13]) + Number(fields[14]);
    procs.set(Number(entry), { ppid: Number(fields[1]), comm: stat.slice(stat.indexOf('(') + 1, close), ticks });
  }
  const under = (pid: number, root: number): boolean => {
    for (let p = pid; p > 1; p = procs.get(p)?.ppid ?? 0) if (p === root) return true;
    return false;
  };
  const totals = { worker: 0, temporal: 0, postgres: 0, bench: 0 };
  for (const [pid, proc] of procs) {
    const seconds = proc.ticks / CLOCK_TICKS_PER_SECOND;
    if (pid === process.pid) totals.bench += seconds;
    else if (!under(pid, process.pid)) continue;
    else if (under(pid, workerPid)) totals.worker += seconds;
    else if (proc.comm.startsWith('temporal')) totals.temporal += seconds;
    else if (proc.comm.startsWith('postgres')) totals.postgres += seconds;
  }
  return totals;
}

/** The processes under `root` (its children, theirs, …), `root` not among them. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return [...parent.keys()].filter(under);
}

/**
 * Resident memory of a group of processes, in MiB: the sum of their RSS, and of their PSS (shared pages split
 * among the processes that share them: the figure that adds up, e.g. for PostgreSQL's shared buffers).
 */
export function groupMemoryMiB(pids: number[]): { rss: number; pss: number; processes: number } {
  let rss = 0;
  let pss = 0;
  let processes = 0;
  for (const pid of pids) {
    try {
      const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
      rss += kib('Rss');
      pss += kib('Pss');
      processes += 1;
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return { rss: rss / 1024, pss: pss / 1024, processes };
}
