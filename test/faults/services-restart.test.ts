/**
 * The servers the service stands on go away for a while and come back: the Temporal server (restarted on its SQLite
 * file, or the production server on PostgreSQL) and PostgreSQL. After each, every trigger sent is filed exactly once
 * and every expected email is sent exactly once. Both run on each server kind of TEST_TEMPORAL_SERVERS
 * (test/support/server-kinds.ts); on the production server PostgreSQL also holds Temporal's databases, so its
 * restart takes Temporal's persistence away too. REDCap and the SMTP server failing: dependencies-down.test.ts.
 */
import { temporalServerKinds } from '../support/server-kinds';
import { expectFiledOnce, expectOneEmailEach, labPerTest, sendTriggers, sleep } from './fault-checks';

jest.setTimeout(300_000);

const kinds = temporalServerKinds();
const startLab = labPerTest();

describe.each(kinds)('on the %s Temporal server', (kind) => {
  test('Temporal server restarted on its data: monitors and intakes carry on, a trigger while it is down gets 503', async () => {
    const lab = await startLab('20s', kind);
    await sendTriggers(lab, 1, 6);
    await expectFiledOnce(lab, 6);

    await lab.stopTemporal();
    const down = await lab.logScan(7);
    expect(down.status).toBe(503);
    await sleep(5_000);
    await lab.startTemporal();
    // REDCap does not resend a DET; the operator (or REDCap's "resend") sends it again once Temporal is back.
    await lab.waitFor(async () => (await lab.logScan(7)).status === 202, 'the API to accept triggers again');

    const filed = await expectFiledOnce(lab, 7);
    const emails = await expectOneEmailEach(lab, 7);
    const server = lab.production ? `; temporal-server seconds ${JSON.stringify(lab.production.seconds)}` : '';
    console.log(
      `fault: [${kind}] Temporal server restart: 503 while down: ${down.status}; ${JSON.stringify(filed)}; emails per session ${JSON.stringify(emails)}${server}`,
    );
  });

  test('PostgreSQL restarted while records are being filed: each is filed once, /readyz says the database is down meanwhile', async () => {
    const lab = await startLab('10s', kind);
    lab.redcap.slow(2_000);
    await sendTriggers(lab, 1, 6);
    await lab.waitFor(() => lab.redcap.calls.length >= 6, 'the worker to call REDCap for every record');
    await lab.stopPostgres();
    const readyz = await fetch(`${lab.apiUrl}/readyz`);
    const readyzBody = (await readyz.json()) as { database?: string };
    expect(readyz.status).toBe(503);
    expect(readyzBody.database).toBe('down');
    await sleep(5_000);
    await lab.startPostgres();
    lab.redcap.heal();

    const filed = await expectFiledOnce(lab, 6);
    const emails = await expectOneEmailEach(lab, 6);
    console.log(
      `fault: [${kind}] PostgreSQL restart: /readyz while down ${readyz.status} ${JSON.stringify(readyzBody)}; ${JSON.stringify(filed)}; emails per session ${JSON.stringify(emails)}`,
    );
  });
});
