/** Job submission runs the real command on a real script: exit status and stderr kept, permanent problems named. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobScriptMissingError, SubmitCommandMissingError, submitJob } from '../../src/jobs/submit';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'submit-'));
fs.writeFileSync(path.join(dir, 'ok.sh'), 'echo "args: $*"; echo "to stderr" >&2\n');
fs.writeFileSync(path.join(dir, 'fails.sh'), 'echo "queue full" >&2; exit 7\n');
fs.writeFileSync(path.join(dir, 'slow.sh'), 'sleep 30\n');
const settings = { command: 'bash', options: [], scriptsDir: dir };
const args = { study: 'SPN01', session: 'SPN01_CMH_0001_01_01' };

test('runs SUBMIT_COMMAND [SUBMIT_OPTIONS…] SUBMIT_SCRIPTS/<script> <study> <session>', async () => {
  const job = await submitJob({ ...settings, options: ['--noprofile'] }, 'ok.sh', args);
  expect(job).toMatchObject({ exitCode: 0, stdout: 'args: SPN01 SPN01_CMH_0001_01_01\n', stderr: 'to stderr\n' });
  expect(job.command).toBe(`bash --noprofile ${path.join(dir, 'ok.sh')} SPN01 SPN01_CMH_0001_01_01`);
});

test('a failing job keeps its exit status and stderr', async () => {
  expect(await submitJob(settings, 'fails.sh', args)).toMatchObject({ exitCode: 7, stderr: 'queue full\n' });
});

test('a missing script, or one outside SUBMIT_SCRIPTS, is a JobScriptMissing error naming it', async () => {
  await expect(submitJob(settings, 'nope.sh', args)).rejects.toThrow(JobScriptMissingError);
  await expect(submitJob(settings, 'nope.sh', args)).rejects.toThrow(/nope\.sh/);
  await expect(submitJob(settings, '../../etc/passwd', args)).rejects.toThrow(/not inside SUBMIT_SCRIPTS/);
});

test('a SUBMIT_COMMAND that does not exist is a SubmitCommandMissing error', async () => {
  await expect(submitJob({ ...settings, command: 'no-such-sbatch' }, 'ok.sh', args)).rejects.toThrow(
    SubmitCommandMissingError,
  );
});

test('an abort (the activity cancelled) stops the job', async () => {
  const controller = new AbortController();
  const job = submitJob(settings, 'slow.sh', args, { signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  await expect(job).rejects.toThrow(/abort/i);
});

test('the job runs in a process group of its own; stopping it stops everything it started, and waits for it', async () => {
  const marker = path.join(dir, 'grandchild-ran');
  fs.writeFileSync(path.join(dir, 'tree.sh'), `sleep 30 & echo $! > "${marker}"; wait\n`);
  const controller = new AbortController();
  let group = 0;
  const job = submitJob(settings, 'tree.sh', args, { signal: controller.signal, onStart: (pid) => (group = pid) });
  // onStart comes on the next tick; on a busy machine the script may have written the marker before that.
  while (group === 0 || !fs.existsSync(marker) || fs.readFileSync(marker, 'utf8').trim() === '')
    await new Promise((resolve) => setTimeout(resolve, 50));
  const grandchild = Number(fs.readFileSync(marker, 'utf8'));
  expect(fs.readFileSync(`/proc/${grandchild}/stat`, 'utf8').split(' ')[4]).toBe(String(group)); // its process group
  expect(group).not.toBe(Number(fs.readFileSync('/proc/self/stat', 'utf8').split(' ')[4])); // not ours: a Ctrl-C does not reach it
  controller.abort();
  await expect(job).rejects.toThrow(/abort/i);
  // Gone when the promise settles: no process, or a zombie (it has exited; an init that does not reap orphans,
  // as in some containers, leaves it in the process table).
  let state = 'gone';
  try {
    state = fs.readFileSync(`/proc/${grandchild}/stat`, 'utf8').split(') ')[1][0];
  } catch {
    // no such process
  }
  expect(['gone', 'Z']).toContain(state);
});
