/**
 * Migration20261126100000 on a database the previous release left (REDCap data as it really comes): stored records
 * become (config, record, event, repeat instance), a record belongs to one session, a linked record cannot be
 * deleted, sessions with a record are noted as having had their monitors started. Real PostgreSQL.
 */
import type { Orm } from '../../src/db/orm';
import { createTestDatabase } from '../support/db';

const BEFORE = 'Migration20261125203800';
let orm: Orm;
const sql = (query: string, params: unknown[] = []) => orm.em.getConnection().execute(query, params);

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
});
afterAll(() => orm.close());

test('the entities match the checked-in migrations', async () => {
  const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });
  expect(diff).not.toMatch(/redcap_record|session_redcap|"session"|redcap_config|intake_failure/);
});

test('data of the previous release is carried over, with the choices the migration names', async () => {
  await orm.getMigrator().down({ to: BEFORE });
  await sql(`insert into site (id) values ('CMH')`);
  await sql(`insert into redcap_config (id, url, project, instrument, version, token, session_field, date_field, comment_field, completed_field, completed_value)
             values (1, 'https://redcap.example.org/', 1234, 'mri_scan_log', '14.5.2', 't', 'session_id', 'scan_date', 'comments', 'mri_scan_log_complete', '2')`);
  for (const n of ['A', 'B', 'C', 'D', 'E', 'F', 'G']) {
    await sql(`insert into timepoint (id, site_id) values (?, 'CMH')`, [`SPN01_CMH_000${n}_01`]);
    await sql(`insert into session (id, timepoint_id, num) values (?, ?, 1)`, [
      `SPN01_CMH_000${n}_01_01`,
      `SPN01_CMH_000${n}_01`,
    ]);
  }
  const session = (n: string) => `SPN01_CMH_000${n}_01_01`;
  const record = async (id: number, name: string, date: string, created: string) =>
    sql(
      `insert into redcap_record (id, config_id, record, entry_date, session_name, created_at) values (?, 1, ?, ?, 'x', ?)`,
      [id, name, date, created],
    );
  const link = (n: string, recordId: number | null) =>
    sql(`insert into session_redcap (session_id, record_id) values (?, ?)`, [session(n), recordId]);

  // r1: the first row is linked, a corrected date made a second, newer one that is not: the linked one stays.
  await record(1, 'r1', '2026-01-01', '2026-01-01T10:00:00Z');
  await record(2, 'r1', '2026-01-02', '2026-01-02T10:00:00Z');
  await link('A', 1);
  // r2: neither is linked: the newest stays.
  await record(3, 'r2', '2026-01-01', '2026-01-01T10:00:00Z');
  await record(4, 'r2', '2026-01-03', '2026-01-03T10:00:00Z');
  // r3: both linked (date and session corrected): the newest linked one stays, B loses its link.
  await record(5, 'r3', '2026-01-01', '2026-01-01T10:00:00Z');
  await record(6, 'r3', '2026-01-04', '2026-01-04T10:00:00Z');
  await link('B', 5);
  await link('C', 6);
  // r4: one row linked to two sessions (a session id corrected after retention): D, with scans, keeps it.
  await record(7, 'r4', '2026-01-01', '2026-01-01T10:00:00Z');
  await link('D', 7);
  await link('E', 7);
  await sql(`insert into scan (session_id, name, series, tag, created_at) values (?, 'D_T1', 1, 'T1', now())`, [
    session('D'),
  ]);
  // F expects no record; G has none known.
  await link('F', null);

  await orm.getMigrator().up();

  const records = await sql(
    `select id, record, entry_date::text as date, repeat_instance from redcap_record order by id`,
  );
  expect(records).toEqual([
    { id: 1, record: 'r1', date: '2026-01-01', repeat_instance: 0 },
    { id: 4, record: 'r2', date: '2026-01-03', repeat_instance: 0 },
    { id: 6, record: 'r3', date: '2026-01-04', repeat_instance: 0 },
    { id: 7, record: 'r4', date: '2026-01-01', repeat_instance: 0 },
  ]);
  expect(await sql(`select session_id, record_id from session_redcap order by session_id`)).toEqual([
    { session_id: session('A'), record_id: 1 },
    { session_id: session('C'), record_id: 6 },
    { session_id: session('D'), record_id: 7 },
    { session_id: session('F'), record_id: null },
  ]);
  const stamped = await sql(`select id from session where monitors_started_at is not null order by id`);
  expect(stamped.map((row) => row.id)).toEqual(['A', 'B', 'C', 'D', 'E'].map(session));
  expect(await sql(`select det_version from redcap_config`)).toEqual([{ det_version: null }]);

  // The new rules hold in the database itself.
  await expect(record(8, 'r1', '2026-02-01', '2026-02-01T10:00:00Z')).rejects.toThrow(
    /violates unique constraint "redcap_record_config_id_record_event_name_repeat__73093_unique"/,
  );
  await sql(
    `insert into redcap_record (id, config_id, record, entry_date, session_name, created_at, repeat_instance) values (9, 1, 'r1', '2026-02-01', 'x', now(), 2)`,
  );
  await expect(link('G', 1)).rejects.toThrow(/violates unique constraint "session_redcap_record_id_unique"/);
  await expect(sql(`delete from redcap_record where id = 1`)).rejects.toThrow(
    /violates foreign key constraint "session_redcap_record_id_foreign"/,
  );
});
