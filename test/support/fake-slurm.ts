/**
 * A tiny Slurm in files, for SUBMIT_COMMAND=sbatch: `sbatch [options…] <script> <args…>` queues the job (one file
 * per job under the state directory, PENDING while `hold` exists, then RUNNING), runs it in the background with
 * bash, removes the file when it ends, and prints `Submitted batch job <id>`. `squeue -h -o %T -j <id>` prints the
 * state, or says "Invalid job id" for a job it no longer has, as Slurm's squeue does; while `squeue-broken` exists
 * it cannot reach its controller. Both are put in `bin/`, for the front of PATH.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FakeSlurm {
  bin: string;
  /** Jobs stay PENDING while held. */
  hold(held: boolean): void;
  /** squeue fails (exit 1, cannot contact the controller) while broken. */
  breakSqueue(broken: boolean): void;
  /** Command lines sbatch queued, in order. */
  submitted(): string[];
  /** Jobs still queued or running. */
  queued(): string[];
}

export function createFakeSlurm(): FakeSlurm {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-slurm-'));
  const bin = path.join(root, 'bin');
  const state = path.join(root, 'state');
  fs.mkdirSync(bin);
  fs.mkdirSync(state);
  fs.writeFileSync(
    path.join(bin, 'sbatch'),
    `#!/usr/bin/env bash
state='${state}'
while [[ "$1" == -* ]]; do shift; done
id=$(( $(cat "$state/next-id" 2>/dev/null || echo 100) + 1 ))
echo "$id" > "$state/next-id"
echo PENDING > "$state/job-$id"
echo "$*" >> "$state/submitted"
(
  while [ -f "$state/hold" ]; do sleep 0.2; done
  echo RUNNING > "$state/job-$id"
  bash "$@" > "$state/out-$id" 2>&1
  rm -f "$state/job-$id"
) < /dev/null > /dev/null 2>&1 &
echo "Submitted batch job $id"
`,
    { mode: 0o755 },
  );
  fs.writeFileSync(
    path.join(bin, 'squeue'),
    `#!/usr/bin/env bash
state='${state}'
if [ -f "$state/squeue-broken" ]; then echo 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)' >&2; exit 1; fi
id="\${@: -1}"
if [ -f "$state/job-$id" ]; then cat "$state/job-$id"; else echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1; fi
`,
    { mode: 0o755 },
  );
  const flag = (name: string) => (on: boolean) =>
    on ? fs.writeFileSync(path.join(state, name), '') : fs.rmSync(path.join(state, name), { force: true });
  return {
    bin,
    hold: flag('hold'),
    breakSqueue: flag('squeue-broken'),
    submitted: () =>
      fs.existsSync(path.join(state, 'submitted'))
        ? fs.readFileSync(path.join(state, 'submitted'), 'utf8').trim().split('\n')
        : [],
    queued: () => fs.readdirSync(state).filter((name) => name.startsWith('job-')),
  };
}
