/**
 * A download monitor's end time passes while the worker is dead (SIGKILL in the middle of a job) or while the
 * Temporal server is down: when they are back, the monitor ends `gave-up` with its email, never Failed (the
 * attempts end in a ScheduleToClose timeout, which a real server reports with the retry state
 * NON_RETRYABLE_FAILURE). Runs on each Temporal server kind of TEST_TEMPORAL_SERVERS.
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporalServerKinds } from '../support/server-kinds';
import { sleep } from './fault-checks';
import { FaultLab } from './fault-lab';

jest.setTimeout(300_000);

/** download.sh: logs `start <session>`, works for `seconds-<session>` seconds (default 0), logs `end <session>`. */
const DOWNLOAD_JOB = `#!/usr/bin/env bash
dir="$(cd "$(dirname "$0")" && pwd)"; s="$2"
echo "start $s" >> "$dir/events"
sleep "$(cat "$dir/seconds-$s" 2>/dev/null || echo 0)"
echo "end $s" >> "$dir/events"
`;
const WINDOW_MS = 30_000;

describe.each(temporalServerKinds())('on the %s Temporal server', (kind) => {
  let lab: FaultLab;

  beforeAll(async () => {
    lab = await FaultLab.start({
      scanCheckDelay: '1 hour', // the import monitors stay out of the way
      temporal: kind,
      jobScripts: { 'download.sh': DOWNLOAD_JOB, 'post_download.sh': '#!/usr/bin/env bash\n' },
      env: { DOWNLOAD_WINDOW: `${WINDOW_MS / 1000}s`, DOWNLOAD_RETRY_INITIAL: '2s', DOWNLOAD_RETRY_MAX: '4s' },
    });
    await lab.startApi();
    await lab.startWorker();
  });

  afterAll(async () => {
    await lab?.close();
  });

  const events = (): string[] => {
    const file = path.join(lab.jobsDir, 'events');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : [];
  };
  const download = (n: number) => lab.client.workflow.getHandle(`scan-download:${FaultLab.sessionId(n)}`);
  const gaveUpMail = (n: number) =>
    lab.mail().filter((m) => m.subject === `[SPN01] Scan download gave up for ${FaultLab.sessionId(n)}`);
  /** The end time of participant n's download monitor (its start plus the window), in ms. */
  const endTimeOf = async (n: number) => (await download(n).describe()).startTime.getTime() + WINDOW_MS;
  const pastEndTime = (endMs: number) => sleep(Math.max(0, endMs + 3_000 - Date.now()));

  test('worker SIGKILLed in the middle of a download job, back after the end time: gave-up, one email', async () => {
    const session = FaultLab.sessionId(1);
    fs.writeFileSync(path.join(lab.jobsDir, `seconds-${session}`), '60');
    expect((await lab.logScan(1)).status).toBe(202);
    await lab.waitFor(() => events().includes(`start ${session}`), 'the download job to start');
    const endMs = await endTimeOf(1);
    await lab.killWorker();
    await pastEndTime(endMs);
    expect(gaveUpMail(1)).toHaveLength(0);
    await lab.startWorker();

    const result = await download(1).result();
    await sleep(3_000); // a second email would come now, if at all
    console.log(`fault: [${kind}] worker SIGKILL across a download's end time: ${JSON.stringify(result)}`);
    expect(result).toEqual({ outcome: 'gave-up', attempts: 1 });
    expect(gaveUpMail(1)).toHaveLength(1);
  });

  test('Temporal server down across the end time of a download retrying with backoff: gave-up, one email', async () => {
    const session = FaultLab.sessionId(2);
    expect((await lab.logScan(2)).status).toBe(202);
    await lab.waitFor(() => events().includes(`end ${session}`), 'a first download job to run');
    const endMs = await endTimeOf(2);
    await lab.stopTemporal();
    await pastEndTime(endMs);
    await lab.startTemporal();

    const result = await download(2).result();
    await sleep(3_000); // a second email would come now, if at all
    const attempts = events().filter((e) => e === `start ${session}`).length;
    console.log(
      `fault: [${kind}] Temporal server down across a download's end time: ${JSON.stringify(result)}, jobs ${attempts}`,
    );
    expect(result).toEqual({ outcome: 'gave-up', attempts: expect.any(Number) });
    expect(result.attempts).toBeGreaterThanOrEqual(1);
    expect(result.attempts).toBeLessThanOrEqual(attempts);
    expect(gaveUpMail(2)).toHaveLength(1);
  });
});
