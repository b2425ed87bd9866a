/**
 * Migration20261203140000 on a database the release before it left: every session gets its study, site, state and
 * since when it needs a person from the facts as they are, the same as src/lab-data/state.ts gives them; each site its
 * last scan. Real PostgreSQL.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../../src/db/orm';
import { refreshSessionStates } from '../../src/lab-data/state';
import { createTestDatabase } from '../support/db';

const BEFORE = 'Migration20261126120000';
let orm: Orm;
const sql = (query: string, params: unknown[] = []) => orm.em.getConnection().execute(query, params);

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
});
afterAll(() => orm.close());

test('the entities match the checked-in migrations', async () => {
  expect(await orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
});

test('sessions of before get the state their facts make; a refresh afterwards changes nothing', async () => {
  await orm.getMigrator().down({ to: BEFORE });
  await sql(`insert into site (id) values ('CMH'), ('ZHH')`);
  await sql(`insert into study (id, name) values ('SPN01', 'Social Processes Network')`);
  await sql(`insert into study_site (study_id, site_id, code, uses_redcap) values ('SPN01', 'CMH', 'SPN01', true),
             ('SPN01', 'ZHH', 'SPN01', false)`);
  await sql(`insert into redcap_config (id, url, project, instrument, version, token, session_field, date_field, comment_field, completed_field, completed_value)
             values (1, 'https://redcap.example.org/', 1234, 'mri_scan_log', '14.5.2', 't', 'session_id', 'scan_date', 'comments', 'mri_scan_log_complete', '2')`);
  const session = (n: string, site = 'CMH') => `SPN01_${site}_000${n}_01_01`;
  const sessions: Array<[string, string]> = [
    ['A', 'CMH'], // a record, nothing else: waiting
    ['B', 'CMH'], // a record and a scan: scans-present
    ['C', 'CMH'], // a record and the no-scans email: missing-scans since the email
    ['D', 'CMH'], // a record and a download job: downloading
    ['E', 'CMH'], // a scan, no record: no-redcap-record since the scan
    ['F', 'CMH'], // a record, monitoring cancelled: no-scans-expected
    ['G', 'CMH'], // marked as expecting no record, with a scan: no-redcap-expected
    ['H', 'ZHH'], // a scan at a site that does not use REDCap: scans-present
    ['I', 'CMH'], // nothing known: no-redcap-record, nothing outstanding yet
    ['J', 'CMH'], // a record and an email that failed to send: waiting
  ];
  for (const [n, site] of sessions) {
    await sql(`insert into timepoint (id, site_id) values (?, ?)`, [session(n, site).slice(0, -3), site]);
    await sql(`insert into session (id, timepoint_id, num, date) values (?, ?, 1, '2026-11-20')`, [
      session(n, site),
      session(n, site).slice(0, -3),
    ]);
  }
  let record = 0;
  for (const n of ['A', 'B', 'C', 'D', 'F', 'J']) {
    record += 1;
    await sql(
      `insert into redcap_record (id, config_id, record, event_name, repeat_instance, entry_date, session_name, created_at)
       values (?, 1, ?, '', 0, '2026-11-20', ?, now())`,
      [record, String(record), session(n)],
    );
    await sql(`insert into session_redcap (session_id, record_id) values (?, ?)`, [session(n), record]);
  }
  await sql(`insert into session_redcap (session_id, record_id) values (?, null)`, [session('G')]);
  const scanAt = '2026-11-21T10:00:00.000Z';
  for (const [n, site] of [
    ['B', 'CMH'],
    ['E', 'CMH'],
    ['G', 'CMH'],
    ['H', 'ZHH'],
  ])
    await sql(`insert into scan (session_id, name, series, tag, created_at) values (?, ?, 1, 'T1', ?)`, [
      session(n, site),
      `${n}_T1`,
      scanAt,
    ]);
  const sentAt = '2026-11-22T08:00:00.000Z';
  await sql(
    `insert into sent_email (key, kind, session_id, subject, recipients, status, attempts, created_at, sent_at)
     values ('k-c', 'no-scans', ?, 's', 'a@example.org', 'sent', 1, now(), ?),
            ('k-j', 'no-scans', ?, 's', 'a@example.org', 'failed', 1, now(), null)`,
    [session('C'), sentAt, session('J')],
  );
  await sql(
    `insert into job_run (session_id, kind, command, workflow_id, run_id, attempt, host, status, submitted_at, alive_at)
     values (?, 'download', 'bash download.sh', 'w', 'r', 1, 'h', 'running', now(), now())`,
    [session('D')],
  );
  await sql(`update session set monitors_cancelled_at = now() where id = ?`, [session('F')]);

  await orm.getMigrator().up();

  const rows = await sql(`select id, study_id, site_id, state, outstanding_since from session order by id`);
  const state = (n: string, site = 'CMH') => rows.find((row) => row.id === session(n, site));
  expect(rows.every((row) => row.study_id === 'SPN01')).toBe(true);
  expect(state('H', 'ZHH')).toMatchObject({ site_id: 'ZHH', state: 'scans-present', outstanding_since: null });
  expect(Object.fromEntries(rows.map((row) => [row.id.slice(13, 14), row.state]))).toEqual({
    A: 'waiting',
    B: 'scans-present',
    C: 'missing-scans',
    D: 'downloading',
    E: 'no-redcap-record',
    F: 'no-scans-expected',
    G: 'no-redcap-expected',
    H: 'scans-present',
    I: 'no-redcap-record',
    J: 'waiting',
  });
  expect(new Date(state('C')!.outstanding_since).toISOString()).toBe(sentAt);
  expect(new Date(state('E')!.outstanding_since).toISOString()).toBe(scanAt);
  expect(state('I')!.outstanding_since).toBeNull();
  const sites = await sql(`select site_id, last_scan_at, created_at from study_site order by site_id`);
  expect(sites.map((row) => [row.site_id, new Date(row.last_scan_at).toISOString(), Boolean(row.created_at)])).toEqual([
    ['CMH', scanAt, true],
    ['ZHH', scanAt, true],
  ]);

  // The module's rule, run over the same facts, agrees with what the migration gave.
  const changed = await refreshSessionStates(
    orm.em.fork() as EntityManager,
    rows.map((row) => row.id as string),
  );
  expect(changed).toEqual([]);
});
