/**
 * A stand-in REDCap for trying the service without one (`npm run fake-redcap`): answers Export Records and
 * Export Events on http://127.0.0.1:<port>/api/ from the fixtures in test/fixtures/redcap (classic project
 * 1234 with record 17, longitudinal project 2001), for the tokens REDCAP_TOKEN_SPN01 and REDCAP_TOKEN_SPN01_LONG.
 *   REDCAP_TOKEN_SPN01=… REDCAP_TOKEN_SPN01_LONG=… npm run fake-redcap -- [port]   (default 8081)
 */
import { FakeRedcap, redcapFixtureRows } from '../test/support/fake-redcap';

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 8081);
  const classic = process.env.REDCAP_TOKEN_SPN01;
  const longitudinal = process.env.REDCAP_TOKEN_SPN01_LONG;
  if (!classic || !longitudinal) throw new Error('Set REDCAP_TOKEN_SPN01 and REDCAP_TOKEN_SPN01_LONG (the tokens the config file uses)');
  const fake = await FakeRedcap.start(port);
  fake.addProject({ token: classic, records: redcapFixtureRows('export-classic.json') });
  fake.addProject({ token: longitudinal, records: redcapFixtureRows('export-longitudinal.json'), events: { baseline_arm_1: 41, month_6_arm_1: 42 } });
  console.log(`fake REDCap on ${fake.url} (API at ${fake.url}api/); Ctrl-C stops it`);
  const stop = () => void fake.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
