/**
 * Everything the monitors need, real and local: a migrated test database with a small lab, an SMTP server,
 * job scripts in a temporary SUBMIT_SCRIPTS that log each submission, and a worker (src/worker.ts
 * createWorker, real activities) on a task queue of its own.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, type NativeConnection } from '@temporalio/worker';
import type { ActivityDeps } from '../../activities';
import { loadConfig, type Config } from '../../src/config';
import type { Orm } from '../../src/db/orm';
import { logger } from '../../src/logger';
import { createMailer } from '../../src/mail/transport';
import { registerSearchAttributes } from '../../src/temporal/client';
import { searchAttributes } from '../../surface';
import { createWorker, type ServiceWorker } from '../../src/worker';
import { createTestDatabase } from './db';
import { seedLab, type LabOptions } from './lab';
import { startSmtpServer, type TestSmtpServer } from './smtp';

/** Logs `<study> <session>` to <script>.log; exits 3 with the content of fail-<session> on stderr when that file exists. */
const LOGGING_JOB = `#!/usr/bin/env bash
dir="$(cd "$(dirname "$0")" && pwd)"
name="$(basename "$0" .sh)"
echo "$1 $2" >> "$dir/$name.log"
if [ -f "$dir/fail-$name-$2" ]; then cat "$dir/fail-$name-$2" >&2; exit 3; fi
echo "$name submitted for $2"
`;

/**
 * The suite's dev server has SessionId/StudyId/SiteId already. The time-skipping test server cannot list
 * search attributes (UNIMPLEMENTED) but accepts addSearchAttributes.
 */
async function registerOurSearchAttributes(client: Client): Promise<void> {
  const namespace = client.options.namespace;
  try {
    await registerSearchAttributes(client, namespace);
  } catch (err) {
    if ((err as { code?: number }).code !== status.UNIMPLEMENTED) throw err;
    const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    await client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(searchAttributes.map((key) => [key.name, keyword])),
    });
  }
}

/**
 * The SDK logs every failed activity attempt at WARN, and the download monitor fails attempts on purpose:
 * keep the test output to errors. Call before anything creates the Temporal runtime (the test environment).
 */
export function quietTemporalLogs(): void {
  if (Runtime._instance) return;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
}

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

export async function startMonitorHarness(
  server: { client: Client; nativeConnection: NativeConnection },
  /** worker: false starts no worker (a test that runs its own, e.g. on a frozen release's code). */
  options: { env?: Record<string, string>; lab?: LabOptions; worker?: boolean } = {},
): Promise<MonitorHarness> {
  await registerOurSearchAttributes(server.client);
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
  const deps: ActivityDeps = {
    config,
    orm,
    logger: logger.child({ test: 'monitors' }, { level: 'warn' }),
    temporal: server.client,
    mailer: createMailer(config),
  };

  let worker: ServiceWorker | undefined;
  let running: Promise<void> | undefined;
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
      worker = await createWorker({ config, connection: server.nativeConnection, deps });
      running = worker.run();
    },
    async stopWorker() {
      if (!worker || !running) return;
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      worker = undefined;
      running = undefined;
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
