/**
 * XNAT goes down before the monitors' emails are due (the deployment of fault-lab.ts: `npm run api` and
 * `npm run worker` as processes, its own PostgreSQL, Temporal dev server and SMTP server, a fake REDCap and a fake
 * XNAT). Every email is still sent, once, when it is due, and says that XNAT could not be reached; no download job
 * is ever submitted for a session XNAT never had archived. Dev server only (it does not concern the Temporal server).
 */
import fs from 'node:fs';
import path from 'node:path';
import { XnatConfig } from '../../src/db/xnat';
import { XNAT_SYNC_WORKFLOW, type XnatSyncResult } from '../../surface';
import type { XnatSyncWorkflow } from '../../workflows/xnat-sync';
import { expectFiledOnce, sendTriggers, sleep } from './fault-checks';
import { FaultLab } from './fault-lab';

jest.setTimeout(300_000);

/** Logs each submission next to itself, and fetches nothing. */
const LOGGING_DOWNLOAD = '#!/usr/bin/env bash\necho "$2" >> "$(dirname "$0")/download.log"\n';

let lab: FaultLab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

test('XNAT down when the emails are due: each is sent once, saying XNAT could not be reached', async () => {
  lab = await FaultLab.start({
    scanCheckDelay: '30s',
    xnat: true,
    jobScripts: { 'download.sh': LOGGING_DOWNLOAD, 'post_download.sh': '#!/usr/bin/env bash\n' },
    env: {
      DOWNLOAD_WINDOW: '35s',
      DOWNLOAD_RETRY_INITIAL: '2s',
      DOWNLOAD_RETRY_MAX: '4s',
      REDCAP_RECORD_DELAY: '30s',
    },
  });
  const running = lab;
  await running.startApi();
  await running.startWorker();
  const xnat = running.xnat!;
  // Session 1 waits in XNAT's prearchive; session 2 is not in XNAT; session 3 is archived there with no REDCap form.
  const [waiting, missing, found] = [1, 2, 3].map((n) => FaultLab.sessionId(n));
  xnat.addPrearchive({ project: 'SPN01_CMH', name: waiting });
  xnat.addExperiment({ project: 'SPN01_CMH', label: found, scans: 2 });

  await sendTriggers(running, 1, 2);
  await expectFiledOnce(running, 2);
  const { id: xnatConfigId } = await running.orm.em.fork().findOneOrFail(XnatConfig, { url: xnat.url });
  const sync: XnatSyncResult = await running.client.workflow.execute<typeof XnatSyncWorkflow>(XNAT_SYNC_WORKFLOW, {
    taskQueue: 'faults',
    workflowId: 'xnat-sync-before-the-outage',
    args: [{ xnatConfigId }],
  });
  expect(sync.projects).toEqual([expect.objectContaining({ newSessions: 1, redcapRecordMonitors: 1 })]);
  const stateOf = async (sessionId: string) =>
    (
      await running.orm.em
        .getConnection()
        .execute<Array<{ state: string }>>(`select state from session_xnat where session_id = ?`, [sessionId])
    )[0]?.state;
  await running.waitFor(async () => (await stateOf(waiting)) === 'prearchive', 'the first check of session 1');
  expect(await stateOf(missing)).toBe('absent');

  await xnat.down();
  const mailAbout = (subject: string) => running.mail().filter((mail) => mail.subject === subject);
  const expected = [
    `[SPN01] No scan data received for ${waiting}`,
    `[SPN01] No scan data received for ${missing}`,
    `[SPN01] Scan download gave up for ${waiting}`,
    `[SPN01] Scan download gave up for ${missing}`,
    `[SPN01] No REDCap record for ${found}`,
  ];
  await running.waitFor(() => expected.every((subject) => mailAbout(subject).length >= 1), 'the five emails');
  await running.waitFor(
    async () =>
      (await running.workflows('ScanImportWorkflow', 'Completed')) === 2 &&
      (await running.workflows('ScanDownloadWorkflow', 'Completed')) === 2 &&
      (await running.workflows('RedcapRecordMonitor', 'Completed')) === 1,
    'every monitor to complete',
  );
  await sleep(3_000);
  expect(expected.map((subject) => mailAbout(subject).length)).toEqual([1, 1, 1, 1, 1]);
  expect(running.mail()).toHaveLength(5);

  for (const sessionId of [waiting, missing]) {
    const [noScans] = mailAbout(`[SPN01] No scan data received for ${sessionId}`);
    expect(noScans.text).toContain('XNAT could not be reached: XNAT project SPN01_CMH');
    expect(noScans.text).toContain('could not be reached (ECONNREFUSED)');
    const [gaveUp] = mailAbout(`[SPN01] Scan download gave up for ${sessionId}`);
    expect(gaveUp.text).toContain(`The download job for ${sessionId} was never submitted`);
    expect(gaveUp.text).toContain('XNAT could not be reached');
    expect(await stateOf(sessionId)).toBe('unreachable');
  }
  expect(mailAbout(`[SPN01] No REDCap record for ${found}`)[0].text).toContain('no REDCap record names it');
  expect(running.mail().some((mail) => mail.text.includes(xnat.password))).toBe(false);
  // No download job was ever submitted: XNAT never had the sessions archived.
  expect(fs.existsSync(path.join(running.jobsDir, 'download.log'))).toBe(false);
  console.log(
    `fault: XNAT down when due: ${expected.length} emails, each once; XNAT requests ${xnat.calls.length}; ` +
      `sync ${JSON.stringify(sync.projects[0])}`,
  );
});
