/**
 * `npm run soak -- --minutes N`: the whole service (`npm run api`, `npm run worker`, PostgreSQL, the Temporal dev
 * server, a fake REDCap, a real SMTP server: the fault lab of test/faults/fault-lab.ts) under a steady mix of
 * real-shaped traffic (new triggers, re-saves, cancels, scans registered, hostile requests), with a fault every
 * `--fault-every` seconds in turn: worker SIGKILL, Temporal server restart, PostgreSQL restart, REDCap down, SMTP
 * down, SIGTERM deploy (worker and API). Then it lets the monitors finish and prints figures, like the bench: nothing
 * passes or fails.
 *   npm run soak -- [--minutes 30] [--fault-every 120] [--outage 20] [--rate 1] [--check-delay "3 minutes"] [--seed 1]
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { FaultLab } from '../test/faults/fault-lab';
import { fmt, rssMiB } from './stats';

interface Options {
  minutes: number;
  faultEvery: number;
  outage: number;
  rate: number;
  checkDelay: string;
  seed: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const DET_SECRET = 'soak-det-secret-0123456789abcdef';

/** A small deterministic random source (mulberry32), so that two runs with one seed send the same mix. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The lab's download job: works a few seconds, registers a scan (with its own scan token) for one participant in
 * three; the others never get scans, so their download monitors give up at the end of the window (one email each).
 */
const DOWNLOAD_JOB = `#!/usr/bin/env bash
s="$2"; n=$(echo "$s" | cut -d_ -f3); n=$((10#$n))
sleep 3
if [ $((n % 3)) -eq 0 ]; then
  curl -fsS -o /dev/null -X POST "$SCAN_MONITOR_URL/sessions/$s/scans" -H "Authorization: Bearer $SCAN_MONITOR_TOKEN" \\
    -H 'Content-Type: application/json' --data "{\\"name\\":\\"\${s}_T1_job\\",\\"series\\":1,\\"tag\\":\\"T1\\"}"
fi
`;
const POST_DOWNLOAD_JOB = '#!/usr/bin/env bash\nsleep 1\n';

interface Sample {
  at: number;
  kind: string;
  status: number;
}
interface Window {
  fault: string;
  from: number;
  to: number;
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--minutes <n>', 'how long the traffic and the faults last', '30')
    .option('--fault-every <seconds>', 'seconds between faults', '120')
    .option('--outage <seconds>', 'how long a server stays down in a fault', '20')
    .option('--rate <n>', 'requests per second', '1')
    .option('--check-delay <duration>', 'SCAN_CHECK_DELAY of the monitors', '3 minutes')
    .option('--seed <n>', 'seed of the traffic mix', '1')
    .parse()
    .opts<Record<string, string>>();
  const options: Options = {
    minutes: Number(o.minutes),
    faultEvery: Number(o.faultEvery),
    outage: Number(o.outage),
    rate: Number(o.rate),
    checkDelay: o.checkDelay,
    seed: Number(o.seed),
  };
  console.log(
    `soak: ${os.cpus().length} cores, ${os.cpus()[0]?.model}, node ${process.version}, ${new Date().toISOString()}; ${JSON.stringify(options)}`,
  );
  const lab = await FaultLab.start({
    scanCheckDelay: options.checkDelay,
    reconcileInterval: '2 minutes',
    jobScripts: { 'download.sh': DOWNLOAD_JOB, 'post_download.sh': POST_DOWNLOAD_JOB },
    env: {
      DET_SECRET,
      DOWNLOAD_WINDOW: '4 minutes',
      DOWNLOAD_RETRY_INITIAL: '20 seconds',
      DOWNLOAD_RETRY_MAX: '1 minute',
      SHUTDOWN_GRACE: '10 seconds',
      EMAIL_LEASE: '30 seconds',
    },
  });
  try {
    await lab.startApi();
    await lab.startWorker();
    await soak(lab, options);
  } finally {
    await lab.close();
  }
}

async function soak(lab: FaultLab, options: Options): Promise<void> {
  const rand = random(options.seed);
  const began = Date.now();
  const endAt = began + options.minutes * 60_000;
  const samples: Sample[] = [];
  const windows: Window[] = [];
  const rss = new Map<string, Array<{ at: number; mib: number }>>();
  const sessions: string[] = [];
  const accepted = new Set<number>();
  /** Records REDCap has completed with a valid session id: each must be filed once, by its trigger or reconciliation. */
  let fileable = 0;
  let next = 1;
  let crashes = 0;

  /** A request with a bound; its status, 0 when nothing answered. */
  const call = async (kind: string, url: () => string, init: RequestInit = {}) => {
    const status = await fetch(url(), { ...init, signal: AbortSignal.timeout(15_000) }).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0,
    );
    samples.push({ at: Date.now(), kind, status });
    return status;
  };
  const admin = { authorization: `Bearer ${lab.env.API_TOKEN}`, 'content-type': 'application/json' };
  const anySession = () => sessions[Math.floor(rand() * sessions.length)];

  const trigger = async (n: number, kind: string) => {
    const response = await lab.logScan(n).catch(() => ({ status: 0 }));
    samples.push({ at: Date.now(), kind, status: response.status });
    if (response.status === 202) accepted.add(n);
  };

  const hostile = [
    () =>
      call('hostile', () => `${lab.apiUrl}/redcap?secret=${DET_SECRET}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'record=1&instrument=mri_scan_log',
      }),
    () =>
      call('hostile', () => `${lab.apiUrl}/redcap?secret=${DET_SECRET}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `record=${'x'.repeat(200_000)}`,
      }),
    () =>
      call('hostile', () => `${lab.apiUrl}/redcap?secret=wrong`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'record=1',
      }),
    () =>
      call('hostile', () => `${lab.apiUrl}/sessions/${FaultLab.sessionId(1)}`, {
        headers: { authorization: 'Bearer no' },
      }),
    () =>
      call('hostile', () => `${lab.apiUrl}/sessions/${FaultLab.sessionId(1)}/scans`, {
        method: 'POST',
        headers: admin,
        body: '{"name": ',
      }),
    () => call('hostile', () => `${lab.apiUrl}/sessions/..%2F..%2Fetc%2Fpasswd`, { headers: admin }),
    () =>
      call('hostile', () => `${lab.apiUrl}/sessions/${FaultLab.sessionId(1)}/scans`, {
        method: 'POST',
        headers: { authorization: 'Bearer scan1.eA.9999999999.forged', 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', series: 1, tag: 'T1' }),
      }),
  ];

  const action = async () => {
    const r = rand();
    if (r < 0.55 || sessions.length === 0) {
      const n = next++;
      const site = rand() < 0.5 ? 'CMH' : 'ZHH';
      // One trigger in fifty names a session id that fits no convention: its intake fails, with an email.
      if (rand() < 0.02) lab.addRedcapRow(n, `SPN01_${site}_not_a_session`);
      else {
        lab.addRedcapRow(n, FaultLab.sessionId(n, site));
        sessions.push(FaultLab.sessionId(n, site));
        fileable += 1;
      }
      await trigger(n, 'trigger');
    } else if (r < 0.72) {
      await trigger(1 + Math.floor(rand() * (next - 1)), 're-save');
    } else if (r < 0.77) {
      const s = anySession();
      await call('cancel', () => `${lab.apiUrl}/sessions/${s}/monitors/cancel`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ reason: 'soak: participant withdrew' }),
      });
    } else if (r < 0.9) {
      const s = anySession();
      await call('scan', () => `${lab.apiUrl}/sessions/${s}/scans`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ name: `${s}_T1_soak`, series: 1, tag: 'T1' }),
      });
    } else {
      await hostile[Math.floor(rand() * hostile.length)]();
    }
  };

  const readyz = () =>
    fetch(`${lab.apiUrl}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.status === 200,
      () => false,
    );
  const faults: Array<[string, () => Promise<void>]> = [
    [
      'worker SIGKILL',
      async () => {
        crashes += 1;
        await lab.killWorker();
        await lab.startWorker();
      },
    ],
    [
      'Temporal server restart',
      async () => (await lab.stopTemporal(), await sleep(options.outage * 1000), await lab.startTemporal()),
    ],
    [
      'PostgreSQL restart',
      async () => (await lab.stopPostgres(), await sleep(options.outage * 1000), await lab.startPostgres()),
    ],
    [
      'REDCap down',
      async () => {
        lab.redcap.failNext(Number.MAX_SAFE_INTEGER, 503);
        await sleep(options.outage * 1000);
        lab.redcap.heal().vanish(); // back, and what was connected to it during the outage is gone
      },
    ],
    ['SMTP down', async () => (await lab.stopSmtp(), await sleep(options.outage * 1000), await lab.startSmtp())],
    [
      'SIGTERM deploy',
      async () => {
        await lab.stopWorker();
        await lab.startWorker();
        const old = lab.api!;
        await lab.startApi(); // the new API up first, then the old one stopped: triggers go to the new one
        await old.stop('SIGTERM');
      },
    ],
  ];
  const runFaults = async () => {
    for (let k = 0; ; k++) {
      const at = began + (k + 1) * options.faultEvery * 1000;
      if (at >= endAt) return;
      await sleep(at - Date.now());
      const [name, fault] = faults[k % faults.length];
      const window: Window = { fault: name, from: Date.now(), to: Infinity };
      windows.push(window);
      console.log(`soak: ${((Date.now() - began) / 60_000).toFixed(1)} min: ${name}`);
      await fault().catch((err: unknown) => console.log(`soak: ${name} failed: ${String(err)}`));
      const readyBy = Date.now() + 120_000;
      while (!(await readyz()) && Date.now() < readyBy) await sleep(500);
      window.to = Date.now() + 10_000; // and 10 s for the clients' pools to settle
      console.log(`soak:   back, ready ${((Date.now() - window.from) / 1000).toFixed(0)} s after the fault began`);
    }
  };

  const sampleRss = () => {
    const at = Date.now();
    const pids: Record<string, number[]> = {
      api: lab.api?.child.pid ? [lab.api.child.pid] : [],
      worker: lab.worker?.child.pid ? [lab.worker.child.pid] : [],
      'Temporal dev server': processesMatching(path.join(lab.workDir, 'temporal.sqlite')),
      'PostgreSQL (all its processes)': processesMatching(`-D ${path.join(lab.workDir, 'postgres')}`, true),
    };
    for (const [role, list] of Object.entries(pids)) {
      const each = list.map(safeRss).filter((mib): mib is number => mib !== undefined);
      if (each.length > 0) rss.set(role, [...(rss.get(role) ?? []), { at, mib: each.reduce((a, b) => a + b, 0) }]);
    }
  };

  const traffic = async () => {
    const inFlight = new Set<Promise<void>>();
    while (Date.now() < endAt) {
      const step = action().catch(() => undefined);
      inFlight.add(step);
      void step.finally(() => inFlight.delete(step));
      while (inFlight.size >= 16) await Promise.race(inFlight);
      await sleep(1000 / options.rate);
    }
    await Promise.all(inFlight);
  };

  const sampler = setInterval(sampleRss, 10_000);
  sampleRss();
  await Promise.all([traffic(), runFaults()]);
  clearInterval(sampler);
  console.log(`soak: traffic over after ${options.minutes} min; letting the monitors finish`);

  // Drain: every intake and monitor ends (the last ones wait SCAN_CHECK_DELAY, downloads their 4-minute window).
  const drainUntil = Date.now() + 10 * 60_000;
  const running = async () =>
    (await lab.client.workflow.count('ExecutionStatus="Running" AND WorkflowType!="RedcapReconcileWorkflow"')).count;
  while ((await running().catch(() => 1)) > 0 && Date.now() < drainUntil) await sleep(5_000);
  await sleep(5_000);
  await report(lab, {
    samples,
    windows,
    rss,
    accepted,
    fileable,
    crashes,
    began,
    stillRunning: await running().catch(() => -1),
  });
}

async function report(
  lab: FaultLab,
  r: {
    samples: Sample[];
    windows: Window[];
    rss: Map<string, Array<{ at: number; mib: number }>>;
    accepted: Set<number>;
    fileable: number;
    crashes: number;
    began: number;
    stillRunning: number;
  },
): Promise<void> {
  const line = (text: string) => console.log(`[soak] ${text}`);
  const triggers = r.samples.filter((s) => s.kind === 'trigger' || s.kind === 're-save');
  const byStatus = (list: Sample[]) =>
    Object.entries(
      list.reduce<Record<string, number>>(
        (acc, s) => ((acc[s.status || 'no answer'] = (acc[s.status || 'no answer'] ?? 0) + 1), acc),
        {},
      ),
    )
      .map(([status, count]) => `${status}: ${count}`)
      .join(', ');
  const inWindow = (s: Sample) => r.windows.some((w) => s.at >= w.from && s.at <= w.to);
  const fivexx = r.samples.filter((s) => s.status >= 500 || s.status === 0);
  const filed = await lab.filed();

  // What the monitors and intakes came to, from Temporal.
  const outcomes: Record<string, Record<string, number>> = {};
  for (const type of [
    'ScanImportWorkflow',
    'ScanDownloadWorkflow',
    'RedcapIntakeWorkflow',
    'RedcapReconcileWorkflow',
  ]) {
    const counts: Record<string, number> = {};
    for await (const wf of lab.client.workflow.list({ query: `WorkflowType="${type}"` })) {
      let outcome: string = wf.status.name;
      if (outcome === 'COMPLETED' && type.startsWith('Scan')) {
        const result = (await lab.client.workflow
          .getHandle(wf.workflowId, wf.runId)
          .result()
          .catch(() => ({ outcome: 'unreadable' }))) as { outcome?: string };
        outcome = result.outcome ?? 'completed';
      }
      counts[outcome] = (counts[outcome] ?? 0) + 1;
    }
    outcomes[type] = counts;
  }
  const mail = lab.mail();
  const subjects = new Map<string, number>();
  for (const m of mail) subjects.set(m.subject, (subjects.get(m.subject) ?? 0) + 1);
  const duplicates = [...subjects.values()].reduce((sum, n) => sum + n - 1, 0);
  const due =
    (outcomes.ScanImportWorkflow['email-sent'] ?? 0) +
    (outcomes.ScanDownloadWorkflow['gave-up'] ?? 0) +
    (outcomes.RedcapIntakeWorkflow.FAILED ?? 0);
  const sentFor = (pattern: RegExp) => [...subjects.keys()].filter((s) => pattern.test(s)).length;

  line(
    `ran ${((Date.now() - r.began) / 60_000).toFixed(1)} min; faults: ${r.windows.map((w) => `${w.fault} (${fmt((w.to - 10_000 - w.from) / 1000, 0)} s)`).join(', ')}`,
  );
  line(
    `triggers sent ${triggers.length} (new ${r.samples.filter((s) => s.kind === 'trigger').length}, re-saves ${r.samples.filter((s) => s.kind === 're-save').length}): ${byStatus(triggers)}`,
  );
  line(
    `records: ${r.fileable} completed in REDCap with a valid session, ${r.accepted.size} accepted by a trigger at least once (any record), ` +
      `filed ${filed.records} (sessions ${filed.sessions}, linked ${filed.links}; by trigger or by reconciliation), ` +
      `not filed ${Math.max(0, r.fileable - filed.records)}, filed twice ${filed.duplicateRecords}`,
  );
  for (const kind of ['cancel', 'scan', 'hostile'])
    line(`${kind} requests: ${byStatus(r.samples.filter((s) => s.kind === kind))}`);
  line(
    `5xx or no answer: ${fivexx.length} in all, ${fivexx.filter((s) => !inWindow(s)).length} outside fault windows (${byStatus(fivexx.filter((s) => !inWindow(s))) || 'none'})`,
  );
  for (const [type, counts] of Object.entries(outcomes)) line(`${type}: ${JSON.stringify(counts)}`);
  line(`workflows still running after the drain: ${r.stillRunning}`);
  line(
    `emails due ${due} (no scans ${outcomes.ScanImportWorkflow['email-sent'] ?? 0}, download gave up ${outcomes.ScanDownloadWorkflow['gave-up'] ?? 0}, intake failed ${outcomes.RedcapIntakeWorkflow.FAILED ?? 0}); ` +
      `received ${mail.length}, distinct ${subjects.size} (no scans ${sentFor(/No scan data/)}, download gave up ${sentFor(/download/i)}, could not be filed ${sentFor(/could not be filed/)}, other ${sentFor(/^(?!.*(No scan data|download|could not be filed))/i)}); ` +
      `duplicates ${duplicates}, per worker crash ${r.crashes ? fmt(duplicates / r.crashes, 2) : 'n/a'} (${r.crashes} crashes)`,
  );
  for (const [role, points] of r.rss) {
    const quarter = Math.max(1, Math.floor(points.length / 4));
    const mean = (list: typeof points) => list.reduce((sum, p) => sum + p.mib, 0) / list.length;
    line(
      `RSS ${role}: first quarter ${fmt(mean(points.slice(0, quarter)))} MiB, last quarter ${fmt(mean(points.slice(-quarter)))} MiB, max ${fmt(Math.max(...points.map((p) => p.mib)))} MiB (${points.length} samples)`,
    );
  }
}

/** A process's RSS; undefined once it is gone (or a zombie, which has none). */
function safeRss(pid: number): number | undefined {
  try {
    const { rss } = rssMiB(pid);
    return Number.isFinite(rss) ? rss : undefined;
  } catch {
    return undefined;
  }
}

/** Pids of the processes whose command line contains `text` (with `children`, their children too). */
function processesMatching(text: string, children = false): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((row) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(row))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
  const roots = rows.filter((row) => row.args.includes(text) && !row.args.includes('ps -eo')).map((row) => row.pid);
  if (!children) return roots;
  return [...roots, ...rows.filter((row) => roots.includes(row.ppid)).map((row) => row.pid)];
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
