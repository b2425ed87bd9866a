/**
 * Everything the monitors need, real and local: a migrated test database with a small lab, an SMTP server,
 * job scripts in a temporary SUBMIT_SCRIPTS that log each submission, and a worker (src/worker.ts
 * createWorker, real activities) on a task queue of its own.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NativeConnection } from '@temporalio/worker';
import { activityDepsFrom, type ActivityDeps } from '../../activities';
import { loadConfig, type Config } from '../../src/config';
import type { Orm } from '../../src/db/orm';
import { logger } from '../../src/logger';
import { createTestDatabase } from './db';
import { seedLab, type LabOptions } from './lab';
import { startSmtpServer, type TestSmtpServer } from './smtp';
import { createTimeSkippingEnv, quietTemporalLogs } from './temporal';
import { startTestWorker, type TestWorker } from './worker';

/** Logs `<study> <session>` to <script>.log; exits 3 with the content of fail-<session> on stderr when that file exists. */
const LOGGING_JOB = `#!/usr/bin/env bash
dir="$(cd "$(dirname "$0")" && pwd)"
name="$(basename "$0" .sh)"
echo "$1 $2" >> "$dir/$name.log"
if [ -f "$dir/fail-$name-$2" ]; then cat "$dir/fail-$name-$2" >&2; exit 3; fi
echo "$name submitted for $2"
`;

export interface MonitorHarness {
  orm: Orm;
  /** The test database, for worker processes. */
  databaseUrl: string;
  smtp: TestSmtpServer;
  config: Config;
  deps: ActivityDeps;
  jobsDir: string;
  /** Submissions of a job script for a session, in order. */
  jobRuns(script: 'download' | 'post_download', sessionId: string): number;
  /** Makes the job script fail for a session (exit 3, this text on stderr); undefined makes it succeed again. */
  failJob(script: 'download' | 'post_download', sessionId: string, stderr: string | undefined): void;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

export interface MonitorHarnessOptions {
  /** Environment of the config, over the harness's own (SMTP_URL, SUBMIT_SCRIPTS, a task queue of its own). */
  env?: Record<string, string>;
  lab?: LabOptions;
  /** false starts no worker (a test that runs its own, e.g. on a frozen release's code). */
  worker?: boolean;
}

export async function startMonitorHarness(
  server: { client: Client; nativeConnection: NativeConnection },
  options: MonitorHarnessOptions = {},
): Promise<MonitorHarness> {
  const { orm, url: databaseUrl } = await createTestDatabase();
  await seedLab(orm, options.lab);
  const smtp = await startSmtpServer();
  const jobsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-'));
  for (const script of ['download.sh', 'post_download.sh'])
    fs.writeFileSync(path.join(jobsDir, script), LOGGING_JOB, { mode: 0o755 });
  const config = loadConfig({
    SMTP_URL: smtp.url,
    SUBMIT_SCRIPTS: jobsDir,
    TEMPORAL_TASK_QUEUE: `monitors-${randomUUID()}`,
    ...options.env,
  });
  const quiet = logger.child({ test: 'monitors' }, { level: 'warn' });
  const deps: ActivityDeps = { ...activityDepsFrom(config, orm, server.client), logger: quiet };

  let worker: TestWorker | undefined;
  const harness: MonitorHarness = {
    orm,
    databaseUrl,
    smtp,
    config,
    deps,
    jobsDir,
    jobRuns(script, sessionId) {
      const file = path.join(jobsDir, `${script}.log`);
      if (!fs.existsSync(file)) return 0;
      return fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line.endsWith(` ${sessionId}`)).length;
    },
    failJob(script, sessionId, stderr) {
      const file = path.join(jobsDir, `fail-${script}-${sessionId}`);
      if (stderr === undefined) fs.rmSync(file, { force: true });
      else fs.writeFileSync(file, stderr);
    },
    async startWorker() {
      worker = await startTestWorker({ config, orm, server, logger: quiet });
    },
    async stopWorker() {
      const stopping = worker;
      worker = undefined;
      await stopping?.stop();
    },
    async close() {
      await harness.stopWorker();
      deps.mailer.close();
      await smtp.close();
      await orm.close();
    },
  };
  if (options.worker !== false) await harness.startWorker();
  return harness;
}

/**
 * The set-up of a test file of the monitors on Temporal's time-skipping server, as jest hooks: the server and a
 * harness on it before the file's tests (handed to `ready`), no SMTP message left from the test before, both
 * stopped after the file. Call at the top of the file.
 */
export function timeSkippingMonitors(
  ready: (suite: { env: TestWorkflowEnvironment; lab: MonitorHarness }) => void,
  options: MonitorHarnessOptions = {},
): void {
  let env: TestWorkflowEnvironment | undefined;
  let lab: MonitorHarness | undefined;
  beforeAll(async () => {
    quietTemporalLogs();
    env = await createTimeSkippingEnv();
    lab = await startMonitorHarness({ client: env.client, nativeConnection: env.nativeConnection }, options);
    ready({ env, lab });
  });
  afterAll(async () => {
    await lab?.close();
    await env?.teardown();
  });
  beforeEach(() => {
    if (lab) lab.smtp.messages.length = 0;
  });
}
