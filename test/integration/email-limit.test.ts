/**
 * The hourly limit of failed-intake and missed-trigger emails per REDCap config (src/mail/throttle.ts), through
 * emailAdmins on a real database and a real SMTP server: one goes out per config, kind and hour, the rest are held
 * and counted (for the digest), a held one stays held when retried, the one that went out is not held when retried,
 * racing senders send one, and the next hour sends again. Other emails are never held.
 */
import { createMailActivities } from '../../activities/mail';
import type { ActivityDeps } from '../../activities/deps';
import { loadConfig } from '../../src/config';
import { HeldEmail } from '../../src/db/lab-data';
import type { Orm } from '../../src/db/orm';
import { logger } from '../../src/logger';
import type { IntakeFailure } from '../../src/mail/templates';
import { createMailer } from '../../src/mail/transport';
import { emailsHeldTotal } from '../../src/metrics';
import { createTestDatabase } from '../support/db';
import { seedLab } from '../support/lab';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp';
import { connectDevServer } from '../support/temporal';

let orm: Orm;
let smtp: TestSmtpServer;
let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let deps: ActivityDeps;
let configId: number;
const sql = (query: string, params: unknown[] = []) => orm.em.fork().getConnection().execute(query, params);

beforeAll(async () => {
  ({ orm } = await createTestDatabase());
  ({ redcapConfigId: configId } = await seedLab(orm));
  smtp = await startSmtpServer();
  temporal = await connectDevServer();
  const config = loadConfig({ SMTP_URL: smtp.url });
  deps = {
    config,
    orm,
    logger: logger.child({ test: 'email-limit' }, { level: 'warn' }),
    temporal: temporal.client,
    mailer: createMailer(config),
  };
});

afterAll(async () => {
  deps.mailer.close();
  await temporal.close();
  await smtp.close();
  await orm.close();
});

beforeEach(async () => {
  smtp.messages.length = 0;
  await sql('delete from email_throttle');
});

const failure = (record: string, config = configId): { key: string; intakeFailure: IntakeFailure } => ({
  key: `redcap-intake:${config}:${record}:run:intake-failed`,
  intakeFailure: {
    configId: config,
    record,
    message: `REDCap record ${record} (config ${config}): "x" is not a session id`,
    type: 'InvalidSessionIdError',
    workflowId: `redcap-intake:${config}:${record}`,
    runId: 'run',
  },
});

const held = async (kind: string) =>
  (await emailsHeldTotal.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;

test('of five failed intakes of one config in an hour, the first is emailed and four are held and counted', async () => {
  const { emailAdmins } = createMailActivities(deps);
  const before = await held('intake-failed');
  const results = [];
  for (const record of ['1', '2', '3', '4', '5']) results.push(await emailAdmins(failure(record)));
  expect(results[0]).toMatchObject({ sent: true, recipients: ['ada@example.org'] });
  for (const result of results.slice(1)) expect(result).toEqual({ sent: true, recipients: [], held: true });
  expect(smtp.messages.map((mail) => mail.subject)).toEqual(['REDCap record 1 could not be filed']);
  expect(
    (await orm.em.fork().find(HeldEmail, {}, { orderBy: { key: 'asc' } })).map((row) => [row.kind, row.scope]),
  ).toEqual(Array(4).fill(['intake-failed', `redcap-config:${configId}:intake-failed`]));
  expect((await held('intake-failed')) - before).toBe(4);
  // Each failure is a problem of the study all the same.
  expect(await sql(`select record from problem where resolved_at is null order by record`)).toEqual(
    ['1', '2', '3', '4', '5'].map((record) => ({ record })),
  );

  // Retried: the one sent is not sent again, a held one stays held.
  expect(await emailAdmins(failure('1'))).toMatchObject({ sent: true, alreadySent: true });
  expect(await emailAdmins(failure('3'))).toMatchObject({ recipients: [], held: true });
  expect(smtp.messages).toHaveLength(1);
  expect((await held('intake-failed')) - before).toBe(4);
});

test('another config, another kind, or an email of no config: each has its own hour, or none', async () => {
  const { emailAdmins } = createMailActivities(deps);
  await emailAdmins(failure('10'));
  expect(await emailAdmins(failure('11', configId + 1000))).toMatchObject({ sent: true });
  const missed = (day: string) => ({
    key: `redcap-reconcile:${configId}:${day}:missed-triggers`,
    kind: 'missed-triggers',
    redcapConfigId: configId,
    subject: `missed ${day}`,
    text: 'x',
  });
  expect(await emailAdmins(missed('2026-12-01'))).toMatchObject({ sent: true });
  expect(await emailAdmins(missed('2026-12-02'))).toMatchObject({ recipients: [], held: true });
  for (let n = 0; n < 3; n++)
    expect(
      await emailAdmins({
        key: `scan-import:S${n}:run:no-scans`,
        subject: `no scans ${n}`,
        text: 'x',
        sessionId: `S${n}`,
      }),
    ).toMatchObject({ sent: true });
  expect(smtp.messages).toHaveLength(6);
});

test('ten failed intakes at once: one email, nine held', async () => {
  const { emailAdmins } = createMailActivities(deps);
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => emailAdmins(failure(`race-${i}`))));
  expect(results.filter((result) => !result.held)).toHaveLength(1);
  expect(results.filter((result) => result.held)).toHaveLength(9);
  expect(smtp.messages).toHaveLength(1);
});

test('once the hour is over, the next one is emailed', async () => {
  const { emailAdmins } = createMailActivities(deps);
  await emailAdmins(failure('20'));
  expect(await emailAdmins(failure('21'))).toMatchObject({ held: true });
  await sql(`update email_throttle set until = now() - interval '1 second'`);
  expect(await emailAdmins(failure('22'))).toMatchObject({ sent: true });
  expect(await emailAdmins(failure('23'))).toMatchObject({ held: true });
  expect(smtp.messages.map((mail) => mail.subject)).toEqual([
    'REDCap record 20 could not be filed',
    'REDCap record 22 could not be filed',
  ]);
});
