/** The session rules users rely on, against real PostgreSQL. */
import type { EntityManager } from '@mikro-orm/postgresql';
import { ForeignKeyConstraintViolationException } from '@mikro-orm/core';
import {
  EmptySession,
  RedcapConfig,
  RedcapRecord,
  Scan,
  Session,
  SessionRedcap,
  Site,
  Study,
  StudySite,
  Timepoint,
} from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { ConflictError, NotFoundError } from '../../src/errors';
import {
  UnknownStudyError,
  attachRedcapRecord,
  findOrCreateSession,
  fileRecord,
  findSession,
  markExpectingNoRecord,
} from '../../src/sessions/domain';
import { checkSessionScans } from '../../src/sessions/scan-check';
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
  expect(
    timepoint.sessions
      .getItems()
      .map((s) => s.num)
      .sort(),
  ).toEqual([1, 2]);
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
  expect(await attachRedcapRecord(em(), session, record)).toEqual({ change: 'attached' });
  expect(await attachRedcapRecord(em(), session, record)).toEqual({ change: 'unchanged' });
  const other = await newRecord('3');
  await expect(attachRedcapRecord(em(), session, other)).rejects.toThrow(ConflictError);
  await expect(attachRedcapRecord(em(), session, other)).rejects.toThrow(
    /SPN01_CMH_0002_01_01 already has REDCap record/,
  );
  expect((await findSession(em(), 'SPN01_CMH_0002_01_01')).redcap?.record?.id).toBe(record.id);
});

test('a session marked as expecting no record refuses one', async () => {
  const { session } = await findOrCreateSession(em(), 'SPN01_CMH_0003_01_01');
  await markExpectingNoRecord(em(), session);
  await expect(attachRedcapRecord(em(), session, await newRecord('4'))).rejects.toThrow(/expecting no REDCap record/);
});

test('checkSessionScans missingScans: a REDCap record, no scans, not marked empty', async () => {
  const { session } = await findOrCreateSession(em(), 'SPN01_CMH_0004_01_01');
  expect((await checkSessionScans(em(), session.id)).missingScans).toBe(false); // no record yet
  await attachRedcapRecord(em(), session, await newRecord('5'));
  expect((await checkSessionScans(em(), session.id)).missingScans).toBe(true);

  const e = em();
  e.create(Scan, {
    session: e.getReference(Session, session.id),
    name: 'SPN01_CMH_0004_01_01_T1_02_SagT1',
    series: 2,
    tag: 'T1',
  });
  await e.flush();
  expect((await checkSessionScans(em(), session.id)).missingScans).toBe(false);

  const { session: empty } = await findOrCreateSession(em(), 'SPN01_CMH_0005_01_01');
  await attachRedcapRecord(em(), empty, await newRecord('6'));
  const e2 = em();
  e2.create(EmptySession, { session: e2.getReference(Session, empty.id), comment: 'participant withdrew' });
  await e2.flush();
  expect((await checkSessionScans(em(), empty.id)).missingScans).toBe(false);
});

test('an unknown session is a 404 naming the id', async () => {
  await expect(checkSessionScans(em(), 'SPN01_CMH_9999_01_01')).rejects.toThrow(NotFoundError);
  await expect(findSession(em(), 'spn01_cmh_9999_01_01')).rejects.toThrow(/SPN01_CMH_9999_01_01/);
});

describe('filing a REDCap record (fileRecord): one transaction, the record follows REDCap', () => {
  const entry = (
    sessionName: string,
    changes: Partial<{ entryDate: string; comment: string; user: string | null }> = {},
  ) => ({
    sessionName,
    entryDate: '2026-11-20',
    comment: 'first',
    user: 'ra',
    eventId: null,
    ...changes,
  });
  const key = (record: string, instance = 0) => ({ configId: config.id, record, eventName: '', instance });

  test('a record is (config, record, event, instance): its date, comment and user follow REDCap; the session date too', async () => {
    const first = await fileRecord(em(), key('f1'), entry('SPN01_CMH_0101_01_01'));
    expect(first).toMatchObject({ change: 'created', sessionCreated: true, monitorsDue: true });
    const again = await fileRecord(em(), key('f1'), entry('spn01_cmh_0101_01_01'));
    expect(again).toMatchObject({ change: 'updated', sessionCreated: false }); // the session name as entered changed
    expect((await fileRecord(em(), key('f1'), entry('spn01_cmh_0101_01_01'))).change).toBe('unchanged');
    const corrected = await fileRecord(
      em(),
      key('f1'),
      entry('spn01_cmh_0101_01_01', { entryDate: '2026-11-21', comment: 'fixed', user: null }),
    );
    expect(corrected).toMatchObject({ change: 'updated', record: { id: first.record.id } });
    expect(await em().findOneOrFail(RedcapRecord, first.record.id)).toMatchObject({
      entryDate: '2026-11-21',
      comment: 'fixed',
      user: null,
    });
    expect((await findSession(em(), 'SPN01_CMH_0101_01_01')).date).toBe('2026-11-21');
    expect(await em().count(RedcapRecord, { record: 'f1' })).toBe(1);

    // Each repeat instance is a record of its own, with its own session.
    const second = await fileRecord(em(), key('f1', 2), entry('SPN01_CMH_0101_01_02'));
    expect(second).toMatchObject({ change: 'created', session: { id: 'SPN01_CMH_0101_01_02' } });
    expect(second.record.id).not.toBe(first.record.id);
  });

  test('a corrected session id moves the record: the new session gets it, the old keeps none', async () => {
    const first = await fileRecord(em(), key('f2'), entry('SPN01_CMH_0102_01_01'));
    await em().nativeUpdate(Session, { id: 'SPN01_CMH_0102_01_01' }, { monitorsStartedAt: new Date() });
    expect((await fileRecord(em(), key('f2'), entry('SPN01_CMH_0102_01_01'))).monitorsDue).toBe(false);

    const moved = await fileRecord(em(), key('f2'), entry('SPN01_CMH_0103_01_01'));
    expect(moved).toMatchObject({
      change: 'moved',
      movedFrom: 'SPN01_CMH_0102_01_01',
      sessionCreated: true,
      monitorsDue: true,
      record: { id: first.record.id },
    });
    expect((await findSession(em(), 'SPN01_CMH_0103_01_01')).redcap?.record?.id).toBe(first.record.id);
    const old = await findSession(em(), 'SPN01_CMH_0102_01_01');
    expect(old.redcap).toBeNull(); // no link at all: "nothing known", not "expects no record"
    expect(old.monitorsStartedAt).toBeNull();
    expect(await em().count(SessionRedcap, { record: first.record.id })).toBe(1);
  });

  test('a refusal changes nothing: not the record, not its link, no new row', async () => {
    const first = await fileRecord(em(), key('f3'), entry('SPN01_CMH_0104_01_01'));
    const taken = await fileRecord(em(), key('f4'), entry('SPN01_CMH_0105_01_01'));
    await expect(fileRecord(em(), key('f3'), entry('SPN01_CMH_0105_01_01', { comment: 'moved?' }))).rejects.toThrow(
      /Session SPN01_CMH_0105_01_01 already has REDCap record f4 \(id \d+\); refusing a second record, f3 \(id \d+\)/,
    );
    expect(await em().findOneOrFail(RedcapRecord, first.record.id)).toMatchObject({
      comment: 'first',
      sessionName: 'SPN01_CMH_0104_01_01',
    });
    expect((await findSession(em(), 'SPN01_CMH_0104_01_01')).redcap?.record?.id).toBe(first.record.id);
    expect((await findSession(em(), 'SPN01_CMH_0105_01_01')).redcap?.record?.id).toBe(taken.record.id);

    const { session } = await findOrCreateSession(em(), 'SPN01_CMH_0106_01_01');
    await markExpectingNoRecord(em(), session);
    await expect(fileRecord(em(), key('f5'), entry('SPN01_CMH_0106_01_01'))).rejects.toThrow(
      /expecting no REDCap record/,
    );
    expect(await em().count(RedcapRecord, { record: 'f5' })).toBe(0);
    await expect(fileRecord(em(), key('f6'), entry('SPN01_CMH_0107_01_01', { entryDate: 'x' }))).rejects.toThrow();
    expect(await em().count(Timepoint, { id: 'SPN01_CMH_0107_01' })).toBe(0);
  });

  test('deleting a linked record is refused: a session never turns into "expects no record" behind our back', async () => {
    const filed = await fileRecord(em(), key('f7'), entry('SPN01_CMH_0108_01_01'));
    await expect(em().nativeDelete(RedcapRecord, { id: filed.record.id })).rejects.toThrow(
      ForeignKeyConstraintViolationException,
    );
    expect((await findSession(em(), 'SPN01_CMH_0108_01_01')).redcap?.record?.id).toBe(filed.record.id);
  });

  test('a KCNI phantom is filed as the datman phantom', async () => {
    const filed = await fileRecord(em(), key('f8'), entry('SPN01_CMH_FBNPHA_0013_MR'));
    expect(filed.session.id).toBe('SPN01_CMH_PHA_FBN0013_01');
    expect((await em().findOneOrFail(Timepoint, 'SPN01_CMH_PHA_FBN0013')).isPhantom).toBe(true);
  });
});
