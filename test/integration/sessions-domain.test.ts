/** The session rules users rely on, against real PostgreSQL. */
import type { EntityManager } from '@mikro-orm/postgresql';
import { EmptySession, RedcapConfig, RedcapRecord, Scan, Session, Site, Study, StudySite, Timepoint } from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { ConflictError, NotFoundError } from '../../src/errors';
import {
  UnknownStudyError,
  attachRedcapRecord,
  findOrCreateSession,
  findSession,
  markExpectingNoRecord,
  missingScans,
} from '../../src/sessions/domain';
import { InvalidSessionIdError } from '../../src/sessions/ids';
import { createTestDatabase } from '../support/db';

let orm: Orm;
let config: RedcapConfig;
const em = () => orm.em.fork() as EntityManager;

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
  const seed = em();
  const study = seed.create(Study, { id: 'SPN01', name: 'Social Processes Network' });
  const cmh = seed.create(Site, { id: 'CMH' });
  const zhh = seed.create(Site, { id: 'ZHH' });
  seed.create(StudySite, { study, site: cmh, code: 'SPN01', usesRedcap: true, downloadScript: 'download.sh' });
  // At ZHH the same study is written with another code in session ids.
  seed.create(StudySite, { study, site: zhh, code: 'SPNZ', usesRedcap: true });
  config = seed.create(RedcapConfig, {
    url: 'https://redcap.example.org/',
    project: 1234,
    instrument: 'mri_scan_log',
    version: '14.5.2',
    token: 'secret',
    sessionField: 'session_id',
    dateField: 'scan_date',
    commentField: 'comments',
    completedField: 'mri_scan_log_complete',
    completedValue: '2',
  });
  await seed.flush();
});

afterAll(() => orm.close());

async function newRecord(record: string): Promise<RedcapRecord> {
  const e = em();
  const row = e.create(RedcapRecord, {
    config: e.getReference(RedcapConfig, config.id),
    record,
    entryDate: '2026-11-20',
    sessionName: 'x',
  });
  await e.flush();
  return row;
}

test('find-or-create makes the timepoint and session once, from any convention and case', async () => {
  const first = await findOrCreateSession(em(), 'spn01_cmh_0001_01_01', '2026-11-20');
  expect(first.created).toBe(true);
  expect(first.session.id).toBe('SPN01_CMH_0001_01_01');
  expect(first.studySite.study.id).toBe('SPN01');

  const again = await findOrCreateSession(em(), 'SPN01_CMH_0001_01_SE01_MR');
  expect(again.created).toBe(false);
  expect(again.session.date).toBe('2026-11-20');

  const second = await findOrCreateSession(em(), 'SPN01_CMH_0001_01_02');
  expect(second.created).toBe(true);
  const timepoint = await em().findOneOrFail(Timepoint, 'SPN01_CMH_0001_01', { populate: ['sessions', 'studies'] });
  expect(timepoint.sessions.getItems().map((s) => s.num).sort()).toEqual([1, 2]);
  expect(timepoint.studies.getItems().map((s) => s.id)).toEqual(['SPN01']);
  expect(await em().count(Timepoint, { id: 'SPN01_CMH_0001_01' })).toBe(1);
});

test('the study is resolved through (study code, site)', async () => {
  const { studySite, session } = await findOrCreateSession(em(), 'SPNZ_ZHH_0007_01_01');
  expect(studySite.study.id).toBe('SPN01');
  expect(studySite.site.id).toBe('ZHH');
  expect(session.id).toBe('SPNZ_ZHH_0007_01_01');
});

test('an unknown (study code, site) pair is refused and the error names the id', async () => {
  await expect(findOrCreateSession(em(), 'SPN01_ZHH_0001_01_01')).rejects.toThrow(UnknownStudyError);
  await expect(findOrCreateSession(em(), 'ABC99_CMH_0001_01_01')).rejects.toThrow(/ABC99_CMH_0001_01_01/);
  expect(await em().count(Timepoint, { id: 'ABC99_CMH_0001_01' })).toBe(0);
});

test('an id that fits no convention is refused and names the id', async () => {
  await expect(findOrCreateSession(em(), 'not-a-session')).rejects.toThrow(InvalidSessionIdError);
  await expect(findOrCreateSession(em(), 'not-a-session')).rejects.toThrow(/not-a-session/);
});

test('a phantom is one session of a phantom timepoint, with no repeat', async () => {
  const { session } = await findOrCreateSession(em(), 'SPN01_CMH_PHA_FBN0013');
  expect(session.id).toBe('SPN01_CMH_PHA_FBN0013_01');
  expect((await em().findOneOrFail(Timepoint, 'SPN01_CMH_PHA_FBN0013')).isPhantom).toBe(true);
  await expect(findOrCreateSession(em(), 'SPN01_CMH_PHA_FBN0013_02')).rejects.toThrow(/no repeat sessions/);
});

test('attaching REDCap records: same again is a no-op, a different one is refused', async () => {
  const { session } = await findOrCreateSession(em(), 'SPN01_CMH_0002_01_01');
  const record = await newRecord('2');
  expect(await attachRedcapRecord(em(), session, record)).toBe('attached');
  expect(await attachRedcapRecord(em(), session, record)).toBe('unchanged');
  const other = await newRecord('3');
  await expect(attachRedcapRecord(em(), session, other)).rejects.toThrow(ConflictError);
  await expect(attachRedcapRecord(em(), session, other)).rejects.toThrow(/SPN01_CMH_0002_01_01 already has REDCap record/);
  expect((await findSession(em(), 'SPN01_CMH_0002_01_01')).redcap?.record?.id).toBe(record.id);
});

test('a session marked as expecting no record refuses one', async () => {
  const { session } = await findOrCreateSession(em(), 'SPN01_CMH_0003_01_01');
  await markExpectingNoRecord(em(), session);
  await expect(attachRedcapRecord(em(), session, await newRecord('4'))).rejects.toThrow(/expecting no REDCap record/);
});

test('missingScans: a REDCap record, no scans, not marked empty', async () => {
  const { session } = await findOrCreateSession(em(), 'SPN01_CMH_0004_01_01');
  expect(await missingScans(em(), session.id)).toBe(false); // no record yet
  await attachRedcapRecord(em(), session, await newRecord('5'));
  expect(await missingScans(em(), session.id)).toBe(true);

  const e = em();
  e.create(Scan, { session: e.getReference(Session, session.id), name: 'SPN01_CMH_0004_01_01_T1_02_SagT1', series: 2, tag: 'T1' });
  await e.flush();
  expect(await missingScans(em(), session.id)).toBe(false);

  const { session: empty } = await findOrCreateSession(em(), 'SPN01_CMH_0005_01_01');
  await attachRedcapRecord(em(), empty, await newRecord('6'));
  const e2 = em();
  e2.create(EmptySession, { session: e2.getReference(Session, empty.id), comment: 'participant withdrew' });
  await e2.flush();
  expect(await missingScans(em(), empty.id)).toBe(false);
});

test('an unknown session is a 404 naming the id', async () => {
  await expect(missingScans(em(), 'SPN01_CMH_9999_01_01')).rejects.toThrow(NotFoundError);
  await expect(findSession(em(), 'spn01_cmh_9999_01_01')).rejects.toThrow(/SPN01_CMH_9999_01_01/);
});
