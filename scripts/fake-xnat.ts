/**
 * `npm run fake-xnat`: an XNAT stand-in on http://127.0.0.1:8082/ for trying the service by hand (README "Trying it
 * with a fake XNAT"), the fake of the tests (test/support/fake-xnat.ts) with sessions that match
 * examples/lab-config.yml and the fake REDCap's records. Its account is the one the config file uses:
 *   XNAT_USER=… XNAT_PASSWORD=… npm run fake-xnat -- [port]   (default 8082)
 * Its times are written in America/Toronto, the zone examples/lab-config.yml gives its XNAT.
 */
import { FakeXnat } from '../test/support/fake-xnat';

const HOUR = 3600_000;

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 8082);
  const user = process.env.XNAT_USER;
  const password = process.env.XNAT_PASSWORD;
  if (!user || !password) throw new Error('Set XNAT_USER and XNAT_PASSWORD (the account the config file uses)');
  const fake = await FakeXnat.start({ port, user, password, timeZone: 'America/Toronto' });
  const ago = (hours: number) => new Date(Date.now() - hours * HOUR);
  fake.addProject('SPN01_ZHH');
  // REDCap record 17 (fake REDCap project 1234) names it: stuck in the prearchive.
  fake.addPrearchive({
    project: 'SPN01_CMH',
    name: 'SPN01_CMH_0001_01_01',
    uploadedAt: ago(30),
    scanDate: '2026-11-20',
  });
  // REDCap record CMH0042 (project 2001), baseline: archived with its scans.
  fake.addExperiment({
    project: 'SPN01_CMH',
    label: 'SPN01_CMH_0042_01_01',
    date: '2026-05-02',
    insertedAt: ago(5),
    scans: 6,
  });
  // No REDCap form was saved for it: archived in XNAT, KCNI label.
  fake.addExperiment({
    project: 'SPN01_CMH',
    label: 'SPN01_CMH_0003_01_SE01_MR',
    date: '2026-11-21',
    insertedAt: ago(4),
    scans: 4,
  });
  // Sent by the scanner to its own project, shared into SPN01_CMH under the session's label.
  fake.addExperiment({
    project: 'CMH_SCANNER',
    label: 'CMH_20261121_P0004',
    date: '2026-11-21',
    insertedAt: ago(3),
    scans: 5,
    shares: [{ project: 'SPN01_CMH', label: 'SPN01_CMH_0004_01_01' }],
  });
  // A label that names no session: the sync reports it.
  fake.addExperiment({ project: 'SPN01_CMH', label: 'CMH_TEST_SCAN', insertedAt: ago(2), scans: 1 });
  console.log(
    `fake XNAT on ${fake.url} (user ${user}); project SPN01_CMH: SPN01_CMH_0001_01_01 in the prearchive, ` +
      'SPN01_CMH_0042_01_01 archived with 6 scans, SPN01_CMH_0003_01_SE01_MR archived (no REDCap form), ' +
      'SPN01_CMH_0004_01_01 shared from CMH_SCANNER, CMH_TEST_SCAN (no session id); project SPN01_ZHH empty; Ctrl-C stops it',
  );
  const stop = () => void fake.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
