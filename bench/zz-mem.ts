import fs from 'node:fs';
import { migrate, openDatabase } from '../src/db/orm';
import { freePort } from '../test/support/ports';
import { eventually, startServiceProcess } from '../test/support/processes';
import { startBenchServices } from './services';

function smaps(pid: number) {
  const text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const byName = new Map<string, number>();
  let name = '';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) { name = head[1] || '[anon]'; name = name.replace(/.*node_modules\//, ''); continue; }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) byName.set(name, (byName.get(name) ?? 0) + Number(rss[1]));
  }
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n, kb]) => `${(kb / 1024).toFixed(0)}M ${n}`).join(' | ');
}

async function main() {
  const services = await startBenchServices();
  try {
    const orm = await openDatabase(services.databaseUrl);
    await migrate(orm);
    await orm.close();
    for (const variant of (process.env.VARIANTS ?? 'atstart,prebuilt').split(',')) {
      const env: Record<string, string> = { DATABASE_URL: services.databaseUrl, TEMPORAL_ADDRESS: services.temporalAddress, DATA_DIR: services.workDir, LOG_LEVEL: 'info', TEMPORAL_TASK_QUEUE: 'mem', WORKER_SDK_METRICS_PORT: String(await freePort()) };
      if (variant.includes('prebuilt')) env.WORKFLOW_BUNDLE_PATH = 'dist/workflow-bundle.js';
      if (variant.includes('arena')) env.MALLOC_ARENA_MAX = '2';
      env.NODE_OPTIONS = '--expose-gc --require /tmp/fleet-scratch/heapinfo.js' + (variant.includes('heap') ? ' --max-old-space-size=160 --max-semi-space-size=2' : '');
      const worker = startServiceProcess('worker', env);
      await eventually(() => worker.output().includes('worker running'), 'worker', 180_000);
      await new Promise((r) => setTimeout(r, 20000)); console.log(worker.output().split('\n').filter((l) => l.includes('HEAPINFO')).join('\n'));
      const status = fs.readFileSync(`/proc/${worker.child.pid}/status`, 'utf8');
      const rss = /VmRSS:\s+(\d+)/.exec(status)![1];
      const anon = /RssAnon:\s+(\d+)/.exec(status)![1];
      const file = /RssFile:\s+(\d+)/.exec(status)![1];
      console.log(`${variant}: RSS ${Math.round(Number(rss) / 1024)} MiB (anon ${Math.round(Number(anon) / 1024)}, file ${Math.round(Number(file) / 1024)}); ${smaps(worker.child.pid!)}`);
      await worker.stop();
    }
  } finally {
    await services.stop();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
