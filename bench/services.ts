/**
 * The servers a benchmark runs against, all on loopback and thrown away afterwards: an embedded PostgreSQL
 * (fresh data directory) and a Temporal server, either the dev server (in memory, no Web UI) as `npm start`
 * runs it, or the production server (`temporal-server` on that PostgreSQL, as docker-compose.yml runs it;
 * `bash scripts/provision.sh temporal-server` builds it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { startDevServer } from '../src/dev/dev-server';
import { freePort } from '../test/support/ports';
import { ProductionTemporalServer } from '../test/support/production-temporal';
import type { TemporalServerKind } from '../test/support/server-kinds';

export interface BenchServices {
  databaseUrl: string;
  temporalAddress: string;
  workDir: string;
  stop(): Promise<void>;
}

export async function startBenchServices(server: TemporalServerKind = 'dev'): Promise<BenchServices> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-scan-monitor-bench-'));
  fs.chmodSync(workDir, 0o755); // PostgreSQL may run as its own user (when we are root)
  const port = await freePort();
  const pg = await startEmbeddedPostgres({ dataDir: path.join(workDir, 'postgres'), port, database: 'bench' });
  const temporal =
    server === 'dev'
      ? await startDevServer({ port: await freePort(), stdio: 'ignore' })
      : await ProductionTemporalServer.create({
          postgres: {
            host: '127.0.0.1',
            port,
            user: 'postgres',
            password: decodeURIComponent(new URL(pg.url).password),
          },
          workDir: path.join(workDir, 'temporal'),
          logLevel: 'warn',
        });
  return {
    databaseUrl: pg.url,
    temporalAddress: temporal.address,
    workDir,
    stop: async () => {
      await temporal.stop();
      await pg.stop();
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}
