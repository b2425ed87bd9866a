/**
 * (d) XNAT, against the fake XNAT on loopback (in this process) and the bench's PostgreSQL:
 *   1. the monitors' check with XNAT: what reading a session's XNAT state adds to the scan check (checkSessionXnat:
 *      the lookup of the study site's project, XNAT's answers, the state recorded), for a session archived, one in
 *      the prearchive and one absent, in a project of N experiments; its XNAT requests;
 *   2. one sync of a project of N experiments (syncXnatProject): all of them known sessions (a first run over its
 *      lookback), then nothing changed (the hourly case), then N more new ones: its time and its XNAT requests.
 */
import type { Orm } from '../src/db/orm';
import { XnatProject } from '../src/db/xnat';
import { applyLabConfig, parseLabConfig } from '../src/lab-config';
import { checkSessionScans } from '../src/sessions/scan-check';
import { XnatClient } from '../src/xnat/client';
import { checkSessionXnat } from '../src/xnat/state';
import { syncXnatProject } from '../src/xnat/sync';
import { FakeXnat } from '../test/support/fake-xnat';
import { xnatLabConfig } from '../test/support/lab-config';
import { seedSession } from '../test/support/lab';
import { fmt, percentile } from './stats';

const DAY = 24 * 3600_000;
const known = (i: number) => `SPN01_CMH_8${String(i).padStart(5, '0')}_01_01`;
const fresh = (i: number) => `SPN01_CMH_7${String(i).padStart(5, '0')}_01_01`;

export async function benchXnat(options: {
  orm: Orm;
  experiments: number;
  checks: number;
  log: (line: string) => void;
}): Promise<void> {
  const { orm, experiments: count, checks, log } = options;
  const xnat = await FakeXnat.start({ timeZone: 'UTC' });
  try {
    const source = xnatLabConfig({ url: xnat.url, user: xnat.user, password: xnat.password, timezone: 'UTC' }, [
      ['SPN01_CMH', 'SPN01', 'CMH'],
    ]);
    await applyLabConfig(orm.em.fork(), parseLabConfig(source, { env: {} }).config);
    const projectId = (await orm.em.fork().findOneOrFail(XnatProject, { project: 'SPN01_CMH' })).id;
    const threeDaysAgo = new Date(Date.now() - 3 * DAY);
    for (let i = 0; i < count; i++)
      xnat.addExperiment({
        project: 'SPN01_CMH',
        label: known(i),
        date: '2026-11-20',
        insertedAt: threeDaysAgo,
        scans: 0,
      });

    await benchCheck(orm, xnat, checks, count, log);
    await benchSync(orm, xnat, projectId, count, log);
  } finally {
    await xnat.close();
  }
}

async function benchCheck(orm: Orm, xnat: FakeXnat, checks: number, count: number, log: (line: string) => void) {
  const archived = 'SPN01_CMH_6000001_01_01';
  const waiting = 'SPN01_CMH_6000002_01_01';
  const absent = 'SPN01_CMH_6000003_01_01';
  for (const sessionId of [archived, waiting, absent]) await seedSession(orm, sessionId);
  xnat.addExperiment({ project: 'SPN01_CMH', label: archived, scans: 20 });
  xnat.addPrearchive({ project: 'SPN01_CMH', name: waiting });
  const client = new XnatClient();
  await checkSessionXnat(orm.em.fork(), client, absent); // the login

  const time = async (work: () => Promise<unknown>) => {
    const latencies: number[] = [];
    for (let i = 0; i < checks; i++) {
      const started = performance.now();
      await work();
      latencies.push(performance.now() - started);
    }
    return latencies.sort((a, b) => a - b);
  };
  const scans = await time(() => checkSessionScans(orm.em.fork(), archived));
  log(
    `xnat: the scan check alone (checkSessionScans, the database): p50 ${fmt(percentile(scans, 50), 2)} ms, p99 ${fmt(percentile(scans, 99), 2)} ms`,
  );
  for (const [what, sessionId] of [
    ['archived with 20 scans', archived],
    ['in the prearchive', waiting],
    ['absent', absent],
  ] as const) {
    const requests = client.counts.requests;
    const latencies = await time(() => checkSessionXnat(orm.em.fork(), client, sessionId));
    log(
      `xnat: check of a session ${what}, project of ${count + 1} experiments: p50 ${fmt(percentile(latencies, 50), 2)} ms, ` +
        `p99 ${fmt(percentile(latencies, 99), 2)} ms over ${checks}; ${fmt((client.counts.requests - requests) / checks, 1)} XNAT requests each`,
    );
  }
}

async function benchSync(orm: Orm, xnat: FakeXnat, projectId: number, count: number, log: (line: string) => void) {
  // The known sessions, as intakes would have filed them.
  await orm.em.getConnection().execute(
    `with ids as (select 'SPN01_CMH_8' || lpad(i::text, 5, '0') || '_01' as tp from generate_series(0, ? - 1) i),
          t as (insert into timepoint (id, site_id, is_phantom) select tp, 'CMH', false from ids returning id),
          st as (insert into study_timepoint (timepoint_id, study_id) select id, 'SPN01' from t)
     insert into session (id, timepoint_id, num, date) select id || '_01', id, 1, '2026-11-20' from t`,
    [count],
  );
  const client = new XnatClient();
  const run = async (what: string, now: Date) => {
    const calls = xnat.calls.length;
    const started = performance.now();
    const result = await syncXnatProject(orm.em.fork(), client, projectId, { lookbackMs: 7 * DAY, now });
    const seconds = (performance.now() - started) / 1000;
    log(
      `xnat: sync, ${what}: ${fmt(seconds, 2)} s (listed ${result.listed}, changed ${result.changed}, filed ${result.filed}, ` +
        `new ${result.newSessions.length}); ${xnat.calls.length - calls} XNAT requests`,
    );
  };
  await run(`${count + 1} experiments, all known sessions (a first run)`, new Date());
  await run('nothing changed since (the hourly case)', new Date(Date.now() + 3600_000));
  const now = Date.now() + 2 * 3600_000;
  for (let i = 0; i < count; i++)
    xnat.addExperiment({
      project: 'SPN01_CMH',
      label: fresh(i),
      date: '2026-11-21',
      insertedAt: new Date(now - 60_000),
    });
  await run(`${count} more, all new sessions`, new Date(now));
}
