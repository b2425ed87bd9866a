/**
 * (c) The `npm start` stack's resident memory: its PostgreSQL, its Temporal dev server and its Node process (the
 * API and the worker of src/start.ts, run through ts-node as `npm start` runs it), idle and with N monitors
 * waiting. Its own DATA_DIR and ports. `npm start` embeds the dev server on 127.0.0.1:7233 in this release, a port
 * the machine may use for something else: the bench starts that dev server itself, as src/start.ts does (SQLite
 * under DATA_DIR, the Web UI, our search attributes), on a free port, and hands it over in TEMPORAL_ADDRESS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../src/config';
import { EMBEDDED_DATABASE, runningEmbeddedPostgresUrl } from '../src/db/embedded-postgres';
import { RedcapConfig } from '../src/db/entities';
import { openDatabase } from '../src/db/orm';
import { startDevServer } from '../src/dev/dev-server';
import { embeddedTemporalFile } from '../src/temporal/client';
import { startScanMonitors } from '../src/temporal/monitors';
import { scanImportWorkflowId } from '../surface';
import { applySmallLab } from '../test/support/lab-config';
import { freePort } from '../test/support/ports';
import { startTsProcess, waitForProcess } from '../test/support/processes';
import { allWaiting, fleetSessionId, seedFleetSessions } from './fleet';
import { descendants, fmt, groupMemoryMiB, runPool } from './stats';

const root = path.resolve(__dirname, '..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The processes of the dev server started with `dbFilename` (the temporal CLI and anything under it). */
function devServerPids(dbFilename: string): number[] {
  const mine = descendants(process.pid).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dbFilename);
    } catch {
      return false;
    }
  });
  return [...mine, ...mine.flatMap(descendants)];
}

export async function benchStack(options: { count: number; concurrency?: number; log: (line: string) => void }) {
  const { count } = options;
  const concurrency = options.concurrency ?? 64;
  const print = (text: string) => options.log(`npm start stack: ${text}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-scan-monitor-stack-'));
  fs.chmodSync(dataDir, 0o755); // PostgreSQL may run as its own user (when we are root)
  const dbFilename = embeddedTemporalFile(dataDir);
  const devServer = await startDevServer({
    dbFilename,
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
    stdio: 'ignore',
  });
  const port = await freePort();
  const stack = startTsProcess(path.join(root, 'src', 'start.ts'), [], {
    DATA_DIR: dataDir,
    PORT: String(port),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    TEMPORAL_ADDRESS: devServer.address,
    RECONCILE_INTERVAL: 'off',
  });
  try {
    await waitForProcess(stack, () => stack.output().includes('"msg":"ready"'), 'npm start to be ready', 180_000);
    const memory = (when: string) => {
      const node = stack.child.pid!;
      const groups = [
        ['PostgreSQL', groupMemoryMiB(descendants(node))],
        ['Temporal dev server', groupMemoryMiB(devServerPids(dbFilename))],
        ['Node (API and worker)', groupMemoryMiB([node])],
      ] as const;
      const total = groups.reduce((sum, [, m]) => ({ rss: sum.rss + m.rss, pss: sum.pss + m.pss }), { rss: 0, pss: 0 });
      print(
        `${when}: ${fmt(total.rss, 0)} MiB RSS, ${fmt(total.pss, 0)} MiB PSS in all; ` +
          groups
            .map(([name, m]) => `${name} ${fmt(m.rss, 0)} MiB RSS / ${fmt(m.pss, 0)} PSS (${m.processes} processes)`)
            .join(', '),
      );
    };
    await sleep(10_000); // past the start's own work (migrations, bundling, first polls)
    memory('idle');

    const orm = await openDatabase(runningEmbeddedPostgresUrl(path.join(dataDir, 'postgres'), EMBEDDED_DATABASE)!);
    const client = new Client({ connection: await Connection.connect({ address: devServer.address }) });
    try {
      await applySmallLab(orm.em.fork(), 'https://redcap.example.org/', 'bench-token-not-used');
      const redcapConfigId = (await orm.em.fork().findOneOrFail(RedcapConfig, { project: 1234 })).id;
      await seedFleetSessions(orm, count, redcapConfigId);
      // The stack's own task queue and durations (the defaults: a 2-day wait).
      const config = loadConfig({});
      const started = performance.now();
      await runPool(count, concurrency, (i) =>
        startScanMonitors(client, config, { sessionId: fleetSessionId(i), studyId: 'SPN01', siteId: 'CMH' }),
      );
      await allWaiting(client, (i) => scanImportWorkflowId(fleetSessionId(i)), count, concurrency);
      print(
        `${count} monitors started and waiting ${fmt((performance.now() - started) / 1000)} s after the first start`,
      );
      await sleep(10_000);
      memory(`${count} monitors waiting`);
    } finally {
      await client.connection.close();
      await orm.close();
    }
  } finally {
    await stack.stop();
    await devServer.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
