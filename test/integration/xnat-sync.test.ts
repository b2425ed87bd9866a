/**
 * The sync's reading side (src/xnat/sync.ts) on a real database against the fake XNAT: new and changed experiments
 * are filed as the sessions their labels name, labels that name none are reported (with the label) and not filed,
 * a label fixed in XNAT is filed and its problem forgotten, what a run reads from where the last one stopped, the
 * latest upload per project, and an XNAT that fails changes nothing.
 */
import { Session, SessionRedcap, Timepoint } from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { SessionXnat, XnatLabelProblem, XnatProject } from '../../src/db/xnat';
import { applyLabConfig, parseLabConfig } from '../../src/lab-config';
import { metricsRegistry } from '../../src/metrics';
import { findOrCreateSession, markExpectingNoRecord } from '../../src/sessions/domain';
import { XnatClient, XnatError } from '../../src/xnat/client';
import { checkSessionXnat } from '../../src/xnat/state';
import { syncXnatProject, xnatProjectIdsOf } from '../../src/xnat/sync';
import { createTestDatabase } from '../support/db';
import { FakeXnat } from '../support/fake-xnat';
import { seedSession } from '../support/lab';
import { smallLabConfig, xnatLabConfig } from '../support/lab-config';

const DAY = 24 * 3600_000;
const LOOKBACK = 7 * DAY;
let orm: Orm;
let xnat: FakeXnat;
let cmh: number;
let zhh: number;
const client = new XnatClient({ timeoutMs: 1_000, retries: 1, backoffMs: 20 });
const em = () => orm.em.fork();

beforeEach(async () => {
  ({ orm } = await createTestDatabase());
  xnat = await FakeXnat.start({ timeZone: 'America/Toronto' });
  const source =
    smallLabConfig('https://redcap.example.org/', 'not-used') +
    xnatLabConfig({ url: xnat.url, user: xnat.user, password: xnat.password, timezone: 'America/Toronto' }, [
      ['SPN01_CMH', 'SPN01', 'CMH'],
      ['SPN01_ZHH', 'SPN01', 'ZHH'],
    ]);
  await applyLabConfig(em(), parseLabConfig(source, { env: {} }).config);
  [cmh, zhh] = await xnatProjectIdsOf(
    em(),
    (await em().findOneOrFail(XnatProject, { project: 'SPN01_CMH' })).config.id,
  );
});
afterEach(async () => {
  await xnat.close();
  await orm.close();
});

const sync = (projectId: number, now: Date) => syncXnatProject(em(), client, projectId, { lookbackMs: LOOKBACK, now });

test('a first run files the sessions of the experiments of its lookback; the labels of no session are reported', async () => {
  const now = new Date('2026-11-22T12:00:00Z');
  const recent = new Date(now.getTime() - DAY);
  xnat.addExperiment({
    project: 'SPN01_CMH',
    label: 'SPN01_CMH_0001_01_01',
    date: '2026-11-21',
    insertedAt: recent,
    scans: 3,
  });
  xnat.addExperiment({ project: 'SPN01_CMH', label: 'SPN01_CMH_0002_01_SE01_MR', insertedAt: recent });
  const shared = xnat.addExperiment({
    project: 'CMH_SCANNER',
    label: 'CMH_20261120_P0003',
    insertedAt: recent,
    shares: [{ project: 'SPN01_CMH', label: 'SPN01_CMH_0003_01_01' }],
  });
  const old = new Date(now.getTime() - 30 * DAY);
  xnat.addExperiment({ project: 'SPN01_CMH', label: 'SPN01_CMH_0009_01_01', insertedAt: old });
  const typo = xnat.addExperiment({ project: 'SPN01_CMH', label: 'SPN01_CMH_PILOT', insertedAt: recent });
  const wrongSite = xnat.addExperiment({ project: 'SPN01_CMH', label: 'SPN01_ZHH_0004_01_01', insertedAt: recent });
  const uploaded = new Date(now.getTime() - 3600_000);
  xnat.addPrearchive({ project: 'SPN01_CMH', name: 'SPN01_CMH_0005_01_01', uploadedAt: uploaded });
  // A session that exists already, with its REDCap record: filed again, it is not new and needs no record.
  await seedSession(orm, 'SPN01_CMH_0001_01_01');

  const from = xnat.calls.length;
  const result = await sync(cmh, now);
  expect(result).toEqual({
    project: 'SPN01_CMH',
    listed: 6,
    changed: 5,
    filed: 3,
    newSessions: ['SPN01_CMH_0002_01_01', 'SPN01_CMH_0003_01_01'],
    withoutRedcapRecord: ['SPN01_CMH_0002_01_01', 'SPN01_CMH_0003_01_01'],
    labelProblems: 2,
    syncedUntil: now.toISOString(),
  });
  // One login, one listing of the experiments, one of the prearchive.
  expect(xnat.callsSince(from).map((call) => `${call.method} ${call.path}`)).toEqual([
    'POST /data/JSESSION',
    'GET /data/projects/SPN01_CMH/experiments',
    'GET /data/prearchive/projects/SPN01_CMH',
  ]);

  const check = em();
  expect((await check.find(Session, {}, { orderBy: { id: 'asc' } })).map((s) => [s.id, s.date])).toEqual([
    ['SPN01_CMH_0001_01_01', '2026-11-20'], // its REDCap date stays
    ['SPN01_CMH_0002_01_01', null],
    ['SPN01_CMH_0003_01_01', null],
  ]);
  // Filed as an intake files a session: its timepoint at the site, of the study.
  const timepoint = await check.findOneOrFail(Timepoint, 'SPN01_CMH_0002_01', { populate: ['studies'] });
  expect([timepoint.site.id, timepoint.isPhantom, timepoint.studies.getItems().map((s) => s.id)]).toEqual([
    'CMH',
    false,
    ['SPN01'],
  ]);
  expect(await check.findOneOrFail(Session, 'SPN01_CMH_0002_01_01')).toMatchObject({ num: 1 });
  expect(await check.findOneOrFail(SessionXnat, { session: 'SPN01_CMH_0003_01_01' })).toMatchObject({
    state: 'archived',
    since: recent,
    scans: null,
    experiment: shared,
  });
  expect(
    (await check.find(XnatLabelProblem, {}, { orderBy: { experiment: 'asc' } })).map((p) => [
      p.experiment,
      p.label,
      p.reason,
    ]),
  ).toEqual([
    [
      typo,
      'SPN01_CMH_PILOT',
      expect.stringMatching(/^Invalid session id "SPN01_CMH_PILOT": it fits no known convention/),
    ],
    [
      wrongSite,
      'SPN01_ZHH_0004_01_01',
      expect.stringMatching(/names study code SPN01 at site ZHH, but XNAT project SPN01_CMH/),
    ],
  ]);
  const project = await check.findOneOrFail(XnatProject, cmh);
  expect(project.syncedUntil).toEqual(now);
  expect(project.lastUploadAt).toEqual(uploaded); // the prearchive's, the latest
  expect(await metricsRegistry.getSingleMetricAsString('xnat_label_problems_total')).toMatch(
    /xnat_label_problems_total\{project="SPN01_CMH"\} 2/,
  );
});

test('a next run reads what changed since the last one; a label fixed in XNAT is filed and its problem forgotten', async () => {
  const first = new Date('2026-11-22T12:00:00Z');
  const typo = xnat.addExperiment({
    project: 'SPN01_CMH',
    label: 'SPN01_CMH_PILOT',
    insertedAt: new Date(first.getTime() - DAY),
  });
  xnat.addExperiment({
    project: 'SPN01_CMH',
    label: 'SPN01_CMH_0001_01_01',
    insertedAt: new Date(first.getTime() - DAY),
  });
  await sync(cmh, first);

  const second = new Date(first.getTime() + 3 * 3600_000);
  expect(await sync(cmh, second)).toMatchObject({ listed: 2, changed: 0, filed: 0, newSessions: [], labelProblems: 0 });

  xnat.relabel(typo, 'SPN01_CMH_0006_01_01', new Date(second.getTime() + 60_000));
  xnat.addExperiment({
    project: 'SPN01_CMH',
    label: 'SPN01_CMH_0007_01_01',
    insertedAt: new Date(second.getTime() + 120_000),
  });
  const third = new Date(second.getTime() + 3600_000);
  expect(await sync(cmh, third)).toMatchObject({
    listed: 3,
    changed: 2,
    newSessions: ['SPN01_CMH_0006_01_01', 'SPN01_CMH_0007_01_01'],
    labelProblems: 0,
  });
  expect(await em().count(XnatLabelProblem)).toBe(0);
  expect((await em().findOneOrFail(XnatProject, cmh)).lastUploadAt).toEqual(new Date(second.getTime() + 120_000));
});

test('a session with a REDCap record, or marked as expecting none, is not one without a record; a site without REDCap has none', async () => {
  const now = new Date('2026-11-22T12:00:00Z');
  for (const label of ['SPN01_CMH_0011_01_01', 'SPN01_CMH_0012_01_01', 'SPN01_CMH_0013_01_01'])
    xnat.addExperiment({ project: 'SPN01_CMH', label, insertedAt: new Date(now.getTime() - DAY) });
  await seedSession(orm, 'SPN01_CMH_0011_01_01');
  const tx = em();
  const { session } = await findOrCreateSession(tx, 'SPN01_CMH_0012_01_01');
  await markExpectingNoRecord(tx, session);
  expect((await sync(cmh, now)).withoutRedcapRecord).toEqual(['SPN01_CMH_0013_01_01']);
  expect(await em().count(SessionRedcap)).toBe(2);

  // ZHH does not use REDCap here.
  await em().getConnection().execute(`update study_site set uses_redcap = false where site_id = 'ZHH'`);
  xnat.addExperiment({
    project: 'SPN01_ZHH',
    label: 'SPN01_ZHH_0014_01_01',
    insertedAt: new Date(now.getTime() - DAY),
  });
  expect(await sync(zhh, now)).toMatchObject({ newSessions: ['SPN01_ZHH_0014_01_01'], withoutRedcapRecord: [] });
});

test('filing again keeps what the monitors’ check recorded (the scans of an archived session)', async () => {
  const now = new Date('2026-11-22T12:00:00Z');
  xnat.addExperiment({
    project: 'SPN01_CMH',
    label: 'SPN01_CMH_0021_01_01',
    insertedAt: new Date(now.getTime() - DAY),
    scans: 4,
  });
  await seedSession(orm, 'SPN01_CMH_0021_01_01');
  await checkSessionXnat(em(), client, 'SPN01_CMH_0021_01_01', now);
  await sync(cmh, now);
  expect(await em().findOneOrFail(SessionXnat, { session: 'SPN01_CMH_0021_01_01' })).toMatchObject({
    state: 'archived',
    scans: 4,
  });
});

test('XNAT failing: the run throws its XnatError and changes nothing (the next run reads from the same point)', async () => {
  const now = new Date('2026-11-22T12:00:00Z');
  xnat.addExperiment({
    project: 'SPN01_CMH',
    label: 'SPN01_CMH_0031_01_01',
    insertedAt: new Date(now.getTime() - DAY),
  });
  xnat.failNext(10, 503, '/prearchive/projects/SPN01_CMH');
  const err = await sync(cmh, now).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(XnatError);
  expect(err).toMatchObject({ type: 'XnatUnavailable', retryable: true });
  expect(await em().count(Session)).toBe(0);
  expect((await em().findOneOrFail(XnatProject, cmh)).syncedUntil).toBeNull();
  xnat.heal().failNext(0);
  expect(await sync(cmh, now)).toMatchObject({ newSessions: ['SPN01_CMH_0031_01_01'] });
});

test('a phantom’s label (KCNI or datman) files the phantom, once', async () => {
  const now = new Date('2026-11-22T12:00:00Z');
  for (const label of ['SPN01_CMH_FBNPHA_0013_MR', 'SPN01_CMH_PHA_FBN0013'])
    xnat.addExperiment({ project: 'SPN01_CMH', label, insertedAt: new Date(now.getTime() - DAY) });
  expect(await sync(cmh, now)).toMatchObject({ filed: 1, newSessions: ['SPN01_CMH_PHA_FBN0013_01'] });
  expect(await em().findOneOrFail(Timepoint, 'SPN01_CMH_PHA_FBN0013')).toMatchObject({ isPhantom: true });
});
