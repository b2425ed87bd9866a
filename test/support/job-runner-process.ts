/**
 * A worker's job in a process of its own, for the job ledger tests: claims a download job in the ledger (the real
 * src/jobs/ledger.ts), runs `<scriptsDir>/<script>` with the real submitJob, records its start and renews the row
 * every 30 s, as a worker does; prints "running <job_run id>". Run it under `unshare --pid` to be a worker in
 * another container with this machine's hostname.
 *   node -r ts-node/register/transpile-only test/support/job-runner-process.ts <databaseUrl> <sessionId> <scriptsDir> <script>
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { openDatabase } from '../../src/db/orm';
import { ALIVE_EVERY_MS, claimJobRun, recordJobStart, renewJobRun } from '../../src/jobs/ledger';
import { submitJob } from '../../src/jobs/submit';

async function main(): Promise<void> {
  const [databaseUrl, sessionId, scriptsDir, script] = process.argv.slice(2);
  const orm = await openDatabase(databaseUrl);
  const em = () => orm.em.fork() as EntityManager;
  const row = await claimJobRun(em(), {
    sessionId,
    kind: 'download',
    command: script,
    workflowId: `scan-download:${sessionId}`,
    runId: 'run',
    attempt: 1,
  });
  if (!row) throw new Error(`${sessionId} has a running download job already`);
  const settings = { command: 'bash', options: [], scriptsDir };
  let started: Promise<void> = Promise.resolve();
  const job = submitJob(
    settings,
    script,
    { study: 'SPN01', session: sessionId },
    {
      onStart: (pid) => (started = recordJobStart(em(), row.id, pid)),
    },
  );
  setInterval(() => void renewJobRun(em(), row.id), ALIVE_EVERY_MS);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await started;
  console.log(`running ${row.id}`);
  await job;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
