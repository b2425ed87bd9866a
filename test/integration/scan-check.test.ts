/**
 * The monitors' check (src/sessions/scan-check.ts) against real PostgreSQL: one SQL statement, and the same answer
 * as the rule read off the full entity graph (findSession) for every kind of session.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { EmptySession, Session } from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { NotFoundError } from '../../src/errors';
import { findOrCreateSession, findSession, markExpectingNoRecord } from '../../src/sessions/domain';
import { InvalidSessionIdError } from '../../src/sessions/ids';
import { checkSessionScans } from '../../src/sessions/scan-check';
import { createTestDatabase } from '../support/db';
import { addScan, seedLab, seedSession } from '../support/lab';

let orm: Orm;
const em = () => orm.em.fork() as EntityManager;

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
  await seedLab(orm);
});

afterAll(() => orm.close());

/** The rule as the entity graph has it: a REDCap record, no scans, not marked empty. */
async function ruleOfTheGraph(sessionId: string) {
  const session = await findSession(em(), sessionId);
  return {
    missingScans: Boolean(session.redcap?.record) && session.scans.count() === 0 && !session.empty,
    scans: session.scans.count(),
  };
}

test('every kind of session: the one-statement check agrees with the entity graph', async () => {
  await seedSession(orm, 'SPN01_CMH_0001_01_01'); // a record, no scans: missing
  await seedSession(orm, 'SPN01_CMH_0002_01_01', { record: false }); // nothing known yet
  const { session: none } = await findOrCreateSession(em(), 'SPN01_CMH_0003_01_01');
  await markExpectingNoRecord(em(), none); // expects no record
  await seedSession(orm, 'SPN01_CMH_0004_01_01');
  await addScan(orm, 'SPN01_CMH_0004_01_01', 'SPN01_CMH_0004_01_01_T1_01');
  await addScan(orm, 'SPN01_CMH_0004_01_01', 'SPN01_CMH_0004_01_01_T2_02'); // scans arrived
  await seedSession(orm, 'SPN01_CMH_0005_01_01');
  const e = em();
  e.create(EmptySession, { session: e.getReference(Session, 'SPN01_CMH_0005_01_01'), comment: 'participant withdrew' });
  await e.flush(); // marked as never getting scans

  const expected = {
    SPN01_CMH_0001_01_01: { missingScans: true, scans: 0 },
    SPN01_CMH_0002_01_01: { missingScans: false, scans: 0 },
    SPN01_CMH_0003_01_01: { missingScans: false, scans: 0 },
    SPN01_CMH_0004_01_01: { missingScans: false, scans: 2 },
    SPN01_CMH_0005_01_01: { missingScans: false, scans: 0 },
  };
  for (const [sessionId, answer] of Object.entries(expected)) {
    expect({ sessionId, check: await checkSessionScans(em(), sessionId) }).toEqual({ sessionId, check: answer });
    expect({ sessionId, check: await ruleOfTheGraph(sessionId) }).toEqual({ sessionId, check: answer });
  }
});

test('a cancel recorded on the session is read with the check; its reason stays in PostgreSQL', async () => {
  await seedSession(orm, 'SPN01_CMH_0021_01_01');
  await seedSession(orm, 'SPN01_CMH_0022_01_01');
  const e = em();
  await e.nativeUpdate(
    Session,
    { id: 'SPN01_CMH_0021_01_01' },
    { monitorsCancelledAt: new Date(), monitorsCancelReason: 'participant withdrew' },
  );
  await e.nativeUpdate(Session, { id: 'SPN01_CMH_0022_01_01' }, { monitorsCancelledAt: new Date() });
  // What a person typed never reaches a monitor's history: the check says the session was cancelled, not why.
  expect(await checkSessionScans(em(), 'SPN01_CMH_0021_01_01')).toEqual({
    missingScans: true,
    scans: 0,
    cancelled: {},
  });
  expect(await checkSessionScans(em(), 'SPN01_CMH_0022_01_01')).toEqual({
    missingScans: true,
    scans: 0,
    cancelled: {},
  });
  expect(await checkSessionScans(em(), 'SPN01_CMH_0001_01_01')).not.toHaveProperty('cancelled');
});

test('one SQL statement, for an id in any convention and case', async () => {
  await seedSession(orm, 'SPN01_CMH_0011_01_01');
  const knex = orm.em.getConnection().getKnex();
  const statements: string[] = [];
  const count = (query: { sql: string }) => statements.push(query.sql);
  knex.on('query', count);
  try {
    expect(await checkSessionScans(em(), 'spn01_cmh_0011_01_se01_mr')).toEqual({ missingScans: true, scans: 0 });
  } finally {
    knex.off('query', count);
  }
  expect(statements).toHaveLength(1);
});

test('an unknown session is a NotFoundError naming it; an id of no convention names the id', async () => {
  await expect(checkSessionScans(em(), 'spn01_cmh_9999_01_01')).rejects.toThrow(NotFoundError);
  await expect(checkSessionScans(em(), 'spn01_cmh_9999_01_01')).rejects.toThrow('No session SPN01_CMH_9999_01_01');
  await expect(checkSessionScans(em(), 'not-a-session')).rejects.toThrow(InvalidSessionIdError);
});
