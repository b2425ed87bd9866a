/**
 * A failed intake's email with the SMTP server down for hours (issue 22 item 4): the failure is recorded at once
 * (intake_failure), and the email is tried until the server takes it, never given up after an hour. On Temporal's
 * time-skipping test server (the retries' backoff skipped), with the real activities, database, SMTP server and a
 * fake REDCap.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { RedcapConfig } from '../../src/db/entities';
import { IntakeFailure } from '../../src/db/intake-failure';
import { startRedcapIntake } from '../../src/temporal/intakes';
import { FakeRedcap } from '../support/fake-redcap';
import { timeSkippingMonitors, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';
import { workflowFailure } from '../support/temporal';

jest.setTimeout(180_000);

const TOKEN = 'E0E0CAFEE0E0CAFEE0E0CAFEE0E0CAFE';
let env: TestWorkflowEnvironment;
let lab: MonitorHarness;
let redcap: FakeRedcap;
let config: RedcapConfig;
timeSkippingMonitors((suite) => ({ env, lab } = suite));

beforeAll(async () => {
  redcap = await FakeRedcap.start();
  redcap.addProject({
    token: TOKEN,
    records: [
      {
        record_id: 'X1',
        session_id: 'SPN01_CMH_FBNPHA_0013',
        scan_date: '2026-11-20',
        comments: 'smtp down',
        mri_scan_log_complete: '2',
      },
    ],
  });
  const em = lab.orm.em.fork();
  config = await em.findOneOrFail(RedcapConfig, { project: 1234 });
  Object.assign(config, { url: redcap.url, token: TOKEN });
  await em.flush();
});

afterAll(async () => {
  await redcap?.close();
});

test('SMTP down for three hours: the failure is recorded at once, the email goes out once the server is back', async () => {
  lab.smtp.rejectNext(1_000_000);
  const { workflowId } = await startRedcapIntake(env.client, lab.config.taskQueue, config, {
    configId: config.id,
    record: 'X1',
  });
  const handle = env.client.workflow.getHandle(workflowId);
  await eventually(
    async () => (await lab.orm.em.fork().count(IntakeFailure, { workflowId })) === 1,
    'the failure to be recorded',
  );
  expect(await lab.orm.em.fork().findOneOrFail(IntakeFailure, { workflowId })).toMatchObject({
    type: 'InvalidSessionIdError',
    reportedAt: null,
  });

  // Three hours of 451s (the retries of an hour's limit would have ended long before).
  await env.sleep('3 hours');
  const described = await handle.describe();
  expect(described.status.name).toBe('RUNNING');
  const [pending] = described.raw.pendingActivities ?? [];
  expect(pending?.activityType?.name).toBe('reportFailedIntake');
  expect(pending?.attempt ?? 0).toBeGreaterThan(10);
  expect(lab.smtp.messages).toHaveLength(0);

  lab.smtp.rejectNext(0);
  const failure = await workflowFailure(env.client, workflowId);
  expect(failure.cause).toMatchObject({ type: 'InvalidSessionIdError' });
  expect(lab.smtp.messages.map((mail) => mail.subject)).toEqual(['REDCap record X1 could not be filed']);
  expect(lab.smtp.messages[0].text).toContain('subject FBNPHA ends in PHA');
  expect(await lab.orm.em.fork().findOneOrFail(IntakeFailure, { workflowId })).toMatchObject({
    reportedAt: expect.any(Date),
  });
});
