/**
 * A whole deployment on loopback whose parts a fault test can break and bring back: its own PostgreSQL
 * (data kept across a restart), its own Temporal server (kept across a restart: the dev server on a SQLite file,
 * or the production server on the lab's PostgreSQL, as docker-compose.yml runs it), a fake REDCap,
 * a real SMTP server (restartable on the same port), and the service as ops run it: `npm run api` and
 * `npm run worker` as child processes that can be SIGKILLed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { migrate, openDatabase, type Orm } from '../../src/db/orm';
import { startDevServer, type DevServer } from '../../src/dev/dev-server';
import { ProductionTemporalServer } from '../support/production-temporal';
import type { TemporalServerKind } from '../support/server-kinds';
import { FakeRedcap } from '../support/fake-redcap';
import { applySmallLab } from '../support/lab-config';
import { freePort } from '../support/ports';
import {
  eventually,
  startServiceProcess,
  startTsProcess,
  waitForProcess,
  type ServiceProcess,
} from '../support/processes';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../support/smtp';

const REDCAP_TOKEN = 'FA17FA17FA17FA17FA17FA17FA17FA17';
const API_TOKEN = 'fault-lab-api-token';

export interface FaultLabOptions {
  /** SCAN_CHECK_DELAY of the monitors (short, so the email comes within the test). */
  scanCheckDelay: string;
  /** Which Temporal server (default: the dev server). */
  temporal?: TemporalServerKind;
  /** RECONCILE_INTERVAL (default off: no reconciliation runs unless a test asks for it). */
  reconcileInterval?: string;
  /** The fake REDCap's clock, in minutes ahead of UTC (default 0). */
  redcapUtcOffsetMinutes?: number;
  /** Job scripts by name (download.sh, post_download.sh): SPN01 at CMH gets them, in the lab's SUBMIT_SCRIPTS. */
  jobScripts?: Record<string, string>;
  /** More environment for the API and the worker (SHUTDOWN_GRACE, EMAIL_LEASE, backoffs…). */
  env?: Record<string, string>;
}

export class FaultLab {
  private pg?: ServiceProcess;
  private devServer?: DevServer;
  private productionServer?: ProductionTemporalServer;
  private smtp?: TestSmtpServer;
  private readonly earlierMail: ReceivedMail[] = [];
  worker?: ServiceProcess;
  api?: ServiceProcess;
  orm!: Orm;
  client!: Client;
  redcap!: FakeRedcap;
  /** The REDCap project's records (the fake server answers from this list). */
  private readonly redcapRows: Array<Record<string, string>> = [];
  private apiPort = 0;
  /** Every API and worker process started, the latest last (`api` and `worker` are the latest). */
  private readonly processes: ServiceProcess[] = [];

  private constructor(
    readonly workDir: string,
    private readonly ports: { postgres: number; temporal: number; smtp: number; workerMetrics: number },
    private readonly options: FaultLabOptions,
  ) {}

  static async start(options: FaultLabOptions): Promise<FaultLab> {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-scan-monitor-faults-'));
    fs.chmodSync(workDir, 0o755); // PostgreSQL may run as its own user (when we are root)
    const ports = {
      postgres: await freePort(),
      temporal: await freePort(),
      smtp: await freePort(),
      workerMetrics: await freePort(),
    };
    const lab = new FaultLab(workDir, ports, options);
    try {
      await lab.startPostgres();
      await lab.startTemporal();
      await lab.startSmtp();
      lab.redcap = await FakeRedcap.start();
      lab.redcap.addProject({
        token: REDCAP_TOKEN,
        records: lab.redcapRows,
        utcOffsetMinutes: options.redcapUtcOffsetMinutes,
      });
      lab.orm = await openDatabase(lab.databaseUrl);
      await migrate(lab.orm);
      for (const [name, text] of Object.entries(options.jobScripts ?? {}))
        fs.writeFileSync(path.join(lab.jobsDir, name), text, { mode: 0o755 });
      await applySmallLab(lab.orm.em.fork(), lab.redcap.url, REDCAP_TOKEN, {
        jobScripts: options.jobScripts !== undefined,
      });
      lab.client = new Client({ connection: await Connection.connect({ address: lab.temporalAddress }) });
    } catch (err) {
      await lab.close(); // what did start (PostgreSQL, a server) would otherwise outlive the test run
      throw err;
    }
    return lab;
  }

  /** Set once PostgreSQL has started (its password is the cluster's own, kept across restarts). */
  databaseUrl = '';

  get temporalKind(): TemporalServerKind {
    return this.options.temporal ?? 'dev';
  }

  /** The production server (temporal: 'production'), for its log and timings. */
  get production(): ProductionTemporalServer | undefined {
    return this.productionServer;
  }

  /** SUBMIT_SCRIPTS of the lab. */
  get jobsDir(): string {
    const dir = path.join(this.workDir, 'jobs');
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  get temporalAddress(): string {
    return this.productionServer?.address ?? `127.0.0.1:${this.ports.temporal}`;
  }

  /** The environment of `npm run api` and `npm run worker`. */
  get env(): Record<string, string> {
    return {
      DATABASE_URL: this.databaseUrl,
      TEMPORAL_ADDRESS: this.temporalAddress,
      TEMPORAL_TASK_QUEUE: 'faults',
      SMTP_URL: `smtp://127.0.0.1:${this.ports.smtp}`,
      SCAN_CHECK_DELAY: this.options.scanCheckDelay,
      RECONCILE_INTERVAL: this.options.reconcileInterval ?? 'off',
      API_TOKEN,
      DATA_DIR: this.workDir,
      LOG_LEVEL: 'info',
      WORKER_METRICS_PORT: String(this.ports.workerMetrics),
      SUBMIT_SCRIPTS: this.jobsDir,
      // For the job scripts: where they register the scans they fetched.
      ...(this.apiPort ? { SCAN_MONITOR_URL: this.apiUrl } : {}),
      ...this.options.env,
    };
  }

  // --- the parts, each breakable -------------------------------------------------------------------------

  async startPostgres(): Promise<void> {
    const pg = startTsProcess(path.join(__dirname, '..', 'support', 'postgres-process.ts'), [
      path.join(this.workDir, 'postgres'),
      String(this.ports.postgres),
      'faults',
    ]);
    this.pg = pg;
    await waitForProcess(pg, () => pg.output().includes('ready '), 'PostgreSQL to start', 60_000);
    this.databaseUrl = /ready (\S+)/.exec(pg.output())![1];
  }

  async stopPostgres(): Promise<void> {
    await this.pg?.stop();
    this.pg = undefined;
  }

  async startTemporal(): Promise<void> {
    if (this.temporalKind === 'dev') {
      this.devServer = await startDevServer({
        port: this.ports.temporal,
        dbFilename: path.join(this.workDir, 'temporal.sqlite'),
        stdio: 'ignore',
      });
    } else if (this.productionServer) {
      await this.productionServer.start();
    } else {
      // Temporal's databases beside ours on the one PostgreSQL, as in docker-compose.yml.
      this.productionServer = await ProductionTemporalServer.create({
        postgres: {
          host: '127.0.0.1',
          port: this.ports.postgres,
          user: 'postgres',
          password: decodeURIComponent(new URL(this.databaseUrl).password),
        },
        workDir: path.join(this.workDir, 'temporal'),
      });
    }
  }

  async stopTemporal(): Promise<void> {
    await this.devServer?.stop();
    this.devServer = undefined;
    await this.productionServer?.stop();
  }

  async startSmtp(): Promise<void> {
    this.smtp = await startSmtpServer({ port: this.ports.smtp });
  }

  async stopSmtp(): Promise<void> {
    if (!this.smtp) return;
    this.earlierMail.push(...this.smtp.messages);
    await this.smtp.close();
    this.smtp = undefined;
  }

  /** Another `npm run worker` (on the same task queue); `env` adds to the lab's (e.g. WORKFLOW_BUNDLE_PATH of an older release's bundle, or its own WORKER_METRICS_PORT). */
  async startWorker(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const worker = startServiceProcess('worker', { ...this.env, ...env });
    this.worker = worker;
    this.processes.push(worker);
    await waitForProcess(worker, () => worker.output().includes('worker running'), 'the worker to start', 120_000);
    return worker;
  }

  /** A crash: SIGKILL, no graceful shutdown. */
  async killWorker(): Promise<void> {
    await this.worker?.stop('SIGKILL');
    this.worker = undefined;
  }

  /** A deploy or `docker compose stop`: SIGTERM; resolves when the worker has exited. */
  async stopWorker(): Promise<void> {
    await this.worker?.stop('SIGTERM');
    this.worker = undefined;
  }

  /** Another `npm run api`, on a port of its own; returns its URL (apiUrl is the latest's). */
  async startApi(): Promise<string> {
    this.apiPort = await freePort();
    const api = startServiceProcess('api', { ...this.env, PORT: String(this.apiPort) });
    this.api = api;
    this.processes.push(api);
    await waitForProcess(
      api,
      () =>
        fetch(`http://127.0.0.1:${this.apiPort}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      'the API to start',
    );
    return this.apiUrl;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  // --- traffic and what came of it -----------------------------------------------------------------------

  /** Session id of the n-th participant of this lab (at CMH, or at ZHH, which has no job scripts). */
  static sessionId(n: number, site: 'CMH' | 'ZHH' = 'CMH'): string {
    return `SPN01_${site}_${String(n).padStart(4, '0')}_01_01`;
  }

  /** REDCap has (or gets) a completed scan log for participant n (record n), and sends the DET to the API. */
  async logScan(
    n: number,
    options: { site?: 'CMH' | 'ZHH'; apiUrl?: string } = {},
  ): Promise<{ status: number; body: { status?: string; workflowId?: string } }> {
    const record = String(n);
    if (!this.redcapRows.some((row) => row.record_id === record))
      this.addRedcapRow(n, FaultLab.sessionId(n, options.site));
    const secret = this.env.DET_SECRET ? `?secret=${encodeURIComponent(this.env.DET_SECRET)}` : '';
    const response = await fetch(`${options.apiUrl ?? this.apiUrl}/redcap${secret}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        redcap_url: this.redcap.url,
        project_url: `${this.redcap.url}redcap_v14.5.2/index.php?pid=1234`,
        project_id: '1234',
        username: 'ra',
        record,
        instrument: 'mri_scan_log',
        mri_scan_log_complete: '2',
      }),
    });
    return { status: response.status, body: (await response.json()) as { status?: string; workflowId?: string } };
  }

  /** REDCap gets (or updates) a completed scan log for participant n (record n), and sends no trigger. */
  addRedcapRow(n: number, sessionId = FaultLab.sessionId(n)): void {
    this.redcap.saveRow(REDCAP_TOKEN, {
      record_id: String(n),
      session_id: sessionId,
      scan_date: '2026-11-20',
      comments: `scan of participant ${n}`,
      ra_id: '42',
      mri_scan_log_complete: '2',
    });
  }

  /** Rows per table that the intake writes, read straight from PostgreSQL. */
  async filed(): Promise<{ records: number; sessions: number; links: number; duplicateRecords: number }> {
    const [row] = await this.orm.em.getConnection().execute<Array<Record<string, string>>>(`
      select (select count(*) from redcap_record) as records,
             (select count(*) from session) as sessions,
             (select count(*) from session_redcap where record_id is not null) as links,
             (select count(*) from (select record from redcap_record group by record having count(*) > 1) d) as duplicate_records`);
    return {
      records: Number(row.records),
      sessions: Number(row.sessions),
      links: Number(row.links),
      duplicateRecords: Number(row.duplicate_records),
    };
  }

  /** The SMTP server (while it runs). */
  smtpServer(): TestSmtpServer {
    if (!this.smtp) throw new Error('the SMTP server is stopped');
    return this.smtp;
  }

  /** Every email the SMTP server accepted, over all its lives. */
  mail(): ReceivedMail[] {
    return [...this.earlierMail, ...(this.smtp?.messages ?? [])];
  }

  /** Emails naming each session, by session id. */
  emailsPerSession(count: number): number[] {
    const mail = this.mail();
    return Array.from(
      { length: count },
      (_, i) => mail.filter((m) => m.subject.includes(FaultLab.sessionId(i + 1))).length,
    );
  }

  /** A sample of the worker's GET /metrics, e.g. `emails_sent_total{kind="no-scans"}`; 0 when absent. */
  async workerMetric(sample: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.ports.workerMetrics}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line ? Number(line.slice(sample.length + 1)) : 0;
  }

  /** Workflows of a type in the lab's namespace (any state). */
  async workflows(type: string, status?: 'Running' | 'Completed' | 'Failed'): Promise<number> {
    const query = `WorkflowType="${type}"${status ? ` AND ExecutionStatus="${status}"` : ''}`;
    return (await this.client.workflow.count(query)).count;
  }

  async waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 120_000): Promise<void> {
    const serverLog = () =>
      this.productionServer ? `\n--- temporal-server log ---\n${this.productionServer.logTail(15)}` : '';
    await eventually(
      check,
      () => `${what}\n--- worker output ---\n${this.worker?.output().slice(-4000) ?? '(no worker)'}${serverLog()}`,
      timeoutMs,
      500,
    );
  }

  async close(): Promise<void> {
    for (const child of this.processes) await child.stop();
    await this.client?.connection.close().catch(() => undefined);
    await this.orm?.close().catch(() => undefined);
    await this.redcap?.close();
    await this.stopSmtp();
    await this.stopTemporal();
    await this.stopPostgres();
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}
