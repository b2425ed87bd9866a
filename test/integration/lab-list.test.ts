/**
 * GET /sessions over 5,000 sessions (every filter, the cursor walked to the end, bad input) and GET
 * /studies/:id/outstanding as JSON and as CSV parsed back (formula injection neutralised, quiet sites, problems of the
 * study). The sessions are written with SQL and given their state by src/lab-data/state.ts. Real PostgreSQL; no
 * monitor runs here.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { parse } from 'csv-parse/sync';
import request from 'supertest';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import type { Orm } from '../../src/db/orm';
import { filingRefused, intakeFailed } from '../../src/lab-data/problems';
import { OUTSTANDING_COLUMNS, studyOutstanding } from '../../src/lab-data/outstanding';
import { refreshSessionStates } from '../../src/lab-data/state';
import { BadRequestError } from '../../src/errors';
import { createTestDatabase } from '../support/db';
import { seedLab } from '../support/lab';
import { connectDevServer } from '../support/temporal';

const TOKEN = 'lab-list-token';
const auth = { Authorization: `Bearer ${TOKEN}` };
const COUNT = 5_000;
const DAY = 86_400_000;
let orm: Orm;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let app: ReturnType<ReturnType<typeof createApp>['callback']>;
let redcapConfigId: number;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const sql = <T = any[]>(query: string, params: unknown[] = []): Promise<T> =>
  orm.em.fork().getConnection().execute(query, params) as Promise<T>;
const em = () => orm.em.fork() as EntityManager;

/** What each seeded session is, by its number: the facts it is given and the state they make. */
interface Seeded {
  id: string;
  study: 'SPN01' | 'SPX02';
  site: 'CMH' | 'ZHH';
  date: string | null;
  state: string;
}
const seeded: Seeded[] = [];

function plan(i: number): Seeded {
  const study = i % 10 === 9 ? 'SPX02' : 'SPN01';
  const site = study === 'SPX02' || i % 2 === 0 ? 'CMH' : 'ZHH';
  // A few sessions without a date (they come last); the others over 300 days, many sharing one.
  const date = i % 997 === 0 ? null : new Date(Date.UTC(2026, 0, 1) + (i % 300) * DAY).toISOString().slice(0, 10);
  const state = ['waiting', 'scans-present', 'missing-scans', 'no-redcap-record', 'no-scans-expected'][i % 5];
  return { id: `${study}_${site}_${String(i).padStart(5, '0')}_01_01`, study, site, date, state };
}

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
  ({ redcapConfigId } = await seedLab(orm));
  temporal = await connectDevServer();
  await sql(`insert into study (id, name) values ('SPX02', 'Second study')`);
  await sql(
    `insert into study_site (study_id, site_id, code, uses_redcap, created_at) values ('SPX02', 'CMH', 'SPX02', true, now())`,
  );
  for (let i = 0; i < COUNT; i++) seeded.push(plan(i));
  const rows = JSON.stringify(seeded.map((s, i) => ({ ...s, i })));
  // Timepoints and sessions, then the facts each state needs: a record, a scan, a no-scans email, an empty mark.
  await sql(
    `insert into timepoint (id, site_id, is_phantom)
     select left(r.id, length(r.id) - 3), r.site, false from json_to_recordset(?::json) r(id text, site text)`,
    [rows],
  );
  await sql(
    `insert into session (id, timepoint_id, num, date)
     select r.id, left(r.id, length(r.id) - 3), 1, r.date::date from json_to_recordset(?::json) r(id text, date text)`,
    [rows],
  );
  await sql(
    `insert into redcap_record (config_id, record, event_name, repeat_instance, entry_date, comment, session_name, created_at)
     select ?, 'rec' || r.i, '', 0, coalesce(r.date::date, '2026-01-01'), '', r.id, now()
     from json_to_recordset(?::json) r(id text, date text, state text, i int) where r.state <> 'no-redcap-record'`,
    [redcapConfigId, rows],
  );
  await sql(
    `insert into session_redcap (session_id, record_id) select session_name, id from redcap_record where config_id = ?`,
    [redcapConfigId],
  );
  await sql(
    `insert into scan (session_id, name, series, tag, created_at)
     select r.id, r.id || '_T1', 1, 'T1', now() - make_interval(days => r.i % 20)
     from json_to_recordset(?::json) r(id text, state text, i int) where r.state in ('scans-present', 'no-redcap-record')`,
    [rows],
  );
  await sql(
    `insert into sent_email (key, kind, session_id, subject, recipients, status, attempts, created_at, sent_at)
     select 'scan-import:' || r.id || ':run:no-scans', 'no-scans', r.id, 's', 'ada@example.org', 'sent', 1, now(),
            now() - make_interval(days => r.i % 30)
     from json_to_recordset(?::json) r(id text, state text, i int) where r.state = 'missing-scans'`,
    [rows],
  );
  await sql(
    `insert into empty_session (session_id, comment, created_at)
     select r.id, 'withdrew', now() from json_to_recordset(?::json) r(id text, state text) where r.state = 'no-scans-expected'`,
    [rows],
  );
  const changed = await refreshSessionStates(
    em(),
    seeded.map((s) => s.id),
  );
  expect(changed).toHaveLength(COUNT); // each got its study and site, if not another state
  const config = loadConfig({ API_TOKEN: TOKEN });
  app = createApp({ config, orm, temporal: temporal.client }).callback();
});

afterAll(async () => {
  await temporal?.close();
  await orm?.close();
});

/** Newest first: by date (none: last), then id, both descending. */
const newestFirst = (a: Seeded, b: Seeded) => (b.date ?? '').localeCompare(a.date ?? '') || b.id.localeCompare(a.id);

/** Every page of GET /sessions with `query`, following `next` to the end. */
async function walk(query: Record<string, string | number>): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: request.Response = await request(app)
      .get('/sessions')
      .query({ ...query, ...(cursor ? { cursor } : {}) })
      .set(auth)
      .expect(200);
    ids.push(...res.body.sessions.map((row: { sessionId: string }) => row.sessionId));
    cursor = res.body.next;
    pages += 1;
  } while (cursor);
  return { ids, pages };
}

const expected = (where: (s: Seeded) => boolean) =>
  seeded
    .filter(where)
    .sort(newestFirst)
    .map((s) => s.id);

test('the state each session was given is its facts', async () => {
  const states = await sql<Array<{ id: string; state: string }>>(`select id, state from session`);
  const byId = new Map(states.map((row) => [row.id, row.state]));
  expect(seeded.filter((s) => byId.get(s.id) !== s.state)).toEqual([]);
});

test('all 5,000, newest first, walked by cursor at the largest page and the default one', async () => {
  const large = await walk({ limit: 500 });
  expect(large.pages).toBe(10);
  expect(large.ids).toEqual(expected(() => true));
  const byDefault = await walk({ study: 'SPN01' });
  expect(byDefault.pages).toBe(Math.ceil(4_500 / 100));
  expect(byDefault.ids).toEqual(expected((s) => s.study === 'SPN01'));
  // Sessions without a date come last.
  expect(large.ids.slice(-seeded.filter((s) => s.date === null).length)).toEqual(expected((s) => s.date === null));
});

test.each([
  [{ study: 'SPN01', state: 'missing-scans' }, (s: Seeded) => s.study === 'SPN01' && s.state === 'missing-scans'],
  [{ study: 'spx02' }, (s: Seeded) => s.study === 'SPX02'],
  [
    { site: 'ZHH', state: 'waiting,no-redcap-record' },
    (s: Seeded) => s.site === 'ZHH' && ['waiting', 'no-redcap-record'].includes(s.state),
  ],
  [
    { since: '2026-06-01', until: '2026-06-30' },
    (s: Seeded) => s.date !== null && s.date >= '2026-06-01' && s.date <= '2026-06-30',
  ],
  [
    { until: '2026-01-05', study: 'SPN01', site: 'CMH' },
    (s: Seeded) => s.study === 'SPN01' && s.site === 'CMH' && s.date !== null && s.date <= '2026-01-05',
  ],
  [{ state: 'problem' }, () => false],
])('filtered by %j, every page', async (query, where) => {
  expect((await walk({ ...query, limit: 137 })).ids).toEqual(expected(where));
});

test('each row: id, study, site, date, state, since when it needs a person, its REDCap link', async () => {
  const res = await request(app).get('/sessions').query({ study: 'SPN01', state: 'missing-scans', limit: 1 }).set(auth);
  const [row] = res.body.sessions;
  const seed = seeded.find((s) => s.id === row.sessionId)!;
  const [sent] = await sql(`select sent_at from sent_email where session_id = ?`, [row.sessionId]);
  const [record] = await sql<Array<{ id: number; record: string }>>(
    `select r.id, r.record from redcap_record r join session_redcap l on l.record_id = r.id where l.session_id = ?`,
    [row.sessionId],
  );
  expect(row).toEqual({
    sessionId: seed.id,
    studyId: 'SPN01',
    siteId: seed.site,
    date: seed.date,
    state: 'missing-scans',
    outstandingSince: new Date(sent.sent_at as string).toISOString(),
    record: `https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234&id=${record.record}&page=mri_scan_log`,
    redcapRecordId: record.id,
  });
  expect(res.body.next).toEqual(expect.any(String));
  const last = await request(app).get('/sessions').query({ state: 'problem' }).set(auth).expect(200);
  expect(last.body).toEqual({ sessions: [], next: null });
});

test.each([
  [{ limit: '501' }, /limit must be at most 500/],
  [{ limit: '0' }, /limit must be at least 1/],
  [{ limit: 'ten' }, /limit must be a whole number/],
  [{ state: 'lost' }, /unknown state "lost" \(the states: waiting, missing-scans, downloading, scans-present/],
  [{ state: 'waiting,gone' }, /unknown state "gone"/],
  [{ study: 'NOPE1' }, /Unknown study NOPE1/],
  [{ site: 'XYZ' }, /Unknown site XYZ/],
  [{ since: '2026-02-30' }, /since is not a day of the calendar/],
  [{ until: 'yesterday' }, /until must be a date as YYYY-MM-DD/],
  [{ cursor: 'not-a-cursor' }, /cursor is not one this list gave/],
  [{ cursor: Buffer.from('["2026-01-01"]').toString('base64url') }, /cursor is not one this list gave/],
  [{ states: 'waiting' }, /unknown parameter states/],
])('bad input %j → 400 naming it', async (query, message) => {
  const res = await request(app).get('/sessions').query(query).set(auth).expect(400);
  expect(res.body.error).toMatch(message);
});

test('a parameter given twice → 400; no token → 401', async () => {
  const res = await request(app).get('/sessions?state=waiting&state=problem').set(auth).expect(400);
  expect(res.body.error).toMatch(/state repeated/);
  await request(app).get('/sessions').expect(401);
  await request(app).get('/studies/SPN01/outstanding').expect(401);
});

describe('the outstanding work of a study', () => {
  test('missing scans and scans without a record, oldest first with their age; problems; quiet sites', async () => {
    const now = new Date();
    // A failed intake pinned on no session, with text a spreadsheet would run.
    await intakeFailed(em(), {
      configId: redcapConfigId,
      record: '=HYPERLINK("http://evil.example/","click")',
      eventName: null,
      instance: null,
      message: '+cmd|"/C calc"!A0, "quoted", and a line\nbreak',
      type: 'InvalidSessionIdError',
      workflowId: 'redcap-intake:x',
      runId: 'r',
    });
    // A refused filing names a session of the second study: it is that study's, not this one's.
    await filingRefused(
      em(),
      { configId: redcapConfigId, record: 'other-study' },
      'SPX02_CMH_00009_01_01',
      new BadRequestError('Session SPX02_CMH_00009_01_01 already has REDCap record rec9'),
    );
    // ZHH is quiet: nothing for 30 days, and it is quiet after 14.
    await sql(`update study_site set quiet_after_seconds = 14 * 86400, last_scan_at = now() - interval '30 days'
               where study_id = 'SPN01' and site_id = 'ZHH'`);
    await sql(`update study_site set quiet_after_seconds = 14 * 86400 where study_id = 'SPN01' and site_id = 'CMH'`);

    const res = await request(app).get('/studies/spn01/outstanding').set(auth).expect(200);
    const body = res.body as Awaited<ReturnType<typeof studyOutstanding>>;
    const missing = seeded.filter((s) => s.study === 'SPN01' && s.state === 'missing-scans').length;
    const noRecord = seeded.filter((s) => s.study === 'SPN01' && s.state === 'no-redcap-record').length;
    expect(body.counts).toEqual({
      'missing-scans': missing,
      'no-redcap-record': noRecord,
      problem: 1,
      'quiet-site': 1,
    });
    expect(body.items).toHaveLength(missing + noRecord + 2);
    const since = body.items.map((item) => item.since);
    expect([...since].sort()).toEqual(since);
    for (const item of body.items)
      expect(item.ageDays).toBe(Math.floor((Date.parse(body.at) - Date.parse(item.since)) / DAY));
    expect(body.items.find((item) => item.kind === 'quiet-site')).toEqual({
      kind: 'quiet-site',
      studyId: 'SPN01',
      siteId: 'ZHH',
      sessionId: null,
      date: null,
      since: expect.any(String),
      ageDays: 16,
      recordName: null,
      record: null,
      reason: expect.stringMatching(/^no upload since 20/),
    });
    expect(body.items.find((item) => item.kind === 'problem')).toMatchObject({
      sessionId: null,
      recordName: '=HYPERLINK("http://evil.example/","click")',
      record: expect.stringContaining('id=%3DHYPERLINK'),
    });
    expect(Date.parse(body.at)).toBeGreaterThanOrEqual(now.getTime() - 1_000);
    const other = await request(app).get('/studies/SPX02/outstanding').set(auth).expect(200);
    expect(other.body.items.filter((item: { kind: string }) => item.kind === 'problem')).toEqual([
      expect.objectContaining({ recordName: '=HYPERLINK("http://evil.example/","click")' }),
      expect.objectContaining({ recordName: 'other-study', siteId: 'CMH', sessionId: 'SPX02_CMH_00009_01_01' }),
    ]);
  });

  test('as CSV: a header row, every item, values quoted, formulas neutralised; parsed back it is the JSON', async () => {
    const json = (await request(app).get('/studies/SPN01/outstanding').set(auth).expect(200)).body;
    const res = await request(app).get('/studies/SPN01/outstanding?format=csv').set(auth).expect(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^inline; filename="SPN01-outstanding-\d{4}-\d{2}-\d{2}\.csv"$/);
    const rows: string[][] = parse(res.text);
    expect(rows[0]).toEqual(OUTSTANDING_COLUMNS);
    expect(rows).toHaveLength(json.items.length + 1);
    const neutral = (value: string) => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value);
    const back = rows.slice(1).map((row) => Object.fromEntries(OUTSTANDING_COLUMNS.map((c, i) => [c, row[i]])));
    expect(back).toEqual(
      json.items.map((item: Record<string, unknown>) =>
        Object.fromEntries(
          OUTSTANDING_COLUMNS.map((c) => [
            c,
            item[c] === null ? '' : typeof item[c] === 'string' ? neutral(item[c] as string) : String(item[c]),
          ]),
        ),
      ),
    );
    const problem = back.find((row) => row.kind === 'problem')!;
    expect(problem.recordName).toBe(`'=HYPERLINK("http://evil.example/","click")`);
    expect(problem.reason).toBe(`'+cmd|"/C calc"!A0, "quoted", and a line\nbreak`);
    expect(res.text).toContain(`"'=HYPERLINK(""http://evil.example/"",""click"")"`);
  });

  test('an unknown study → 404; a format that is neither json nor csv → 400', async () => {
    expect((await request(app).get('/studies/NOPE1/outstanding').set(auth).expect(404)).body).toEqual({
      error: 'No study NOPE1',
      studyId: 'NOPE1',
    });
    expect((await request(app).get('/studies/SPN01/outstanding?format=xlsx').set(auth).expect(400)).body.error).toMatch(
      /format must be json or csv/,
    );
  });
});
