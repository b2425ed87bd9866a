import fs from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { EmbeddedPostgresHandle } from '../src/db/embedded-postgres';

export default async function globalTeardown(): Promise<void> {
  const services = (globalThis as Record<string, unknown>).__testServices as
    { pg: EmbeddedPostgresHandle; devServer: TestWorkflowEnvironment; workDir: string } | undefined;
  if (!services) return;
  await services.devServer.teardown();
  await services.pg.stop();
  fs.rmSync(services.workDir, { recursive: true, force: true });
}
