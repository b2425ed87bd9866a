/**
 * Brings up what the suite needs, once per run, and hands the addresses to the test files
 * through the environment: an embedded PostgreSQL (fresh data directory) and a Temporal dev server
 * (@temporalio/testing createLocal, with the provisioned CLI). The time-skipping server is started per
 * test file (test/support/temporal.ts), since time skipping is global to a server.
 *
 * It also hands one bundle of workflows/, of the sources as they are now (test/support/workflow-bundle.ts), to every
 * worker the tests start, in-process or `npm run worker` (WORKFLOW_BUNDLE_PATH, as the Docker image runs its worker):
 * each would otherwise run webpack for itself, some thirty times a run. Bundling at start has tests of its own
 * (test/integration/workflow-bundle.test.ts, and npm start in any-user-start.test.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { devServerExecutable } from '../src/dev/binaries';
import { searchAttributes } from '../surface';
import { freePort } from './support/ports';
import { testWorkflowBundle } from './support/workflow-bundle';

export default async function globalSetup(): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-scan-monitor-test-'));
  fs.chmodSync(workDir, 0o755); // PostgreSQL may run as its own user (when we are root)
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(workDir, 'postgres'),
    port: await freePort(),
    database: 'postgres',
  });
  const devServer = await TestWorkflowEnvironment.createLocal({
    server: { executable: devServerExecutable(), ip: '127.0.0.1', searchAttributes },
  });
  process.env.TEST_DATABASE_URL = pg.url;
  process.env.TEST_TEMPORAL_ADDRESS = devServer.address;
  process.env.TEST_WORK_DIR = workDir;
  process.env.WORKFLOW_BUNDLE_PATH = await testWorkflowBundle();
  (globalThis as Record<string, unknown>).__testServices = { pg, devServer, workDir };
}
