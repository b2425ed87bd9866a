/**
 * The servers a benchmark runs against, all on loopback and thrown away afterwards: an embedded PostgreSQL
 * (fresh data directory) and a Temporal dev server (in memory, no Web UI), as `npm start` would run them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { startDevServer } from '../src/dev/dev-server';
import { freePort } from '../test/support/ports';

export interface BenchServices {
  databaseUrl: string;
  temporalAddress: string;
  workDir: string;
  stop(): Promise<void>;
}

export async function startBenchServices(): Promise<BenchServices> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-scan-monitor-bench-'));
  fs.chmodSync(workDir, 0o755); // PostgreSQL may run as its own user (when we are root)
  const pg = await startEmbeddedPostgres({ dataDir: path.join(workDir, 'postgres'), port: await freePort(), database: 'bench' });
  const devServer = await startDevServer({ port: await freePort(), stdio: 'ignore' });
  return {
    databaseUrl: pg.url,
    temporalAddress: devServer.address,
    workDir,
    stop: async () => {
      await devServer.stop();
      await pg.stop();
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}
