/**
 * The services the monitors call fail for a while and come back: REDCap answering 5xx, the SMTP server gone when
 * the emails are due. After each, every trigger sent is filed exactly once and every expected email is sent exactly
 * once. They do not concern the Temporal server, so they run on the dev server only (npm test).
 */
import { expectFiledOnce, expectOneEmailEach, labPerTest, sendTriggers, sleep } from './fault-checks';

jest.setTimeout(300_000);

const startLab = labPerTest();

test('REDCap answering 503 for a while: the records are filed once it is back', async () => {
  const lab = await startLab('1 hour');
  lab.redcap.failNext(12, 503);
  await sendTriggers(lab, 1, 4);
  const filed = await expectFiledOnce(lab, 4);
  const failed = lab.redcap.calls.filter((call) => call.status === 503).length;
  expect(failed).toBe(12);
  console.log(`fault: REDCap 503 x${failed}: ${JSON.stringify(filed)}; REDCap calls ${lab.redcap.calls.length}`);
});

test('SMTP server down when the emails are due: each is sent once when it is back', async () => {
  const lab = await startLab('5s');
  await lab.stopSmtp();
  await sendTriggers(lab, 1, 4);
  await expectFiledOnce(lab, 4);
  await sleep(12_000); // every monitor has tried to send, and failed
  expect(lab.mail()).toHaveLength(0);
  await lab.startSmtp();
  const emails = await expectOneEmailEach(lab, 4);
  const counted = await lab.workerMetric('emails_sent_total{kind="no-scans"}');
  expect(counted).toBe(4);
  console.log(
    `fault: SMTP down then back: emails per session ${JSON.stringify(emails)}; worker /metrics emails_sent_total ${counted}`,
  );
});
