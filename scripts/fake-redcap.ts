/**
 * A stand-in REDCap for trying the service without one (`npm run fake-redcap`): answers Export Records, Import Records
 * and Export Events on http://127.0.0.1:<port>/api/ from the fixtures in test/fixtures/redcap, for the tokens the
 * example lab configs use: REDCAP_TOKEN_SPN01 (classic project 1234 with record 17), REDCAP_TOKEN_SPN01_LONG
 * (longitudinal project 2001) and, if set, REDCAP_TOKEN_SPN01_REPEAT (project 3001, whose MRI scan log is a repeating
 * instrument: records 331-2 and Zoë 7, examples/lab-config-repeating.yml). Import Records changes a record the way
 * saving its form does (REDCap sends no trigger for an import: send it yourself).
 *   REDCAP_TOKEN_SPN01=… REDCAP_TOKEN_SPN01_LONG=… [REDCAP_TOKEN_SPN01_REPEAT=…] npm run fake-redcap -- [port]   (default 8081)
 */
import { FakeRedcap, redcapFixtureRepeatRows, redcapFixtureRows } from '../test/support/fake-redcap';

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 8081);
  const classic = process.env.REDCAP_TOKEN_SPN01;
  const longitudinal = process.env.REDCAP_TOKEN_SPN01_LONG;
  const repeating = process.env.REDCAP_TOKEN_SPN01_REPEAT;
  if (!classic || !longitudinal)
    throw new Error('Set REDCAP_TOKEN_SPN01 and REDCAP_TOKEN_SPN01_LONG (the tokens the config file uses)');
  const fake = await FakeRedcap.start(port);
  fake.addProject({ token: classic, records: redcapFixtureRows('export-classic.json') });
  fake.addProject({
    token: longitudinal,
    records: redcapFixtureRows('export-longitudinal.json'),
    events: { baseline_arm_1: 41, month_6_arm_1: 42 },
  });
  if (repeating) fake.addProject({ token: repeating, records: redcapFixtureRepeatRows('export-repeating.json') });
  console.log(
    `fake REDCap on ${fake.url} (API at ${fake.url}api/); projects 1234, 2001${repeating ? ', 3001 (repeating)' : ' (set REDCAP_TOKEN_SPN01_REPEAT for the repeating project 3001)'}; Ctrl-C stops it`,
  );
  const stop = () => void fake.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
