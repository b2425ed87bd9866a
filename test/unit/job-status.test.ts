/** Reading a queued job: the id its submit command printed, and the state its status command answers. */
import { interpretJobStatus, queuedJobId } from '../../src/jobs/status';

test('the job id of sbatch and sbatch --parsable', () => {
  expect(queuedJobId('Submitted batch job 4242\n')).toBe('4242');
  expect(queuedJobId('4242\n')).toBe('4242');
  expect(queuedJobId('4242;cluster-a\n')).toBe('4242');
  expect(queuedJobId('download.sh: fetching\n')).toBeNull();
  expect(queuedJobId('')).toBeNull();
});

const answer = (exitCode: number, stdout: string, stderr = '') => interpretJobStatus({ exitCode, stdout, stderr });

test.each(['PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED', 'REQUEUED', 'PD', 'R', 'CG', 'running'])(
  '%s: still queued or running',
  (state) => {
    expect(answer(0, `${state}\n`).state).toBe('active');
  },
);

test.each(['COMPLETED', 'FAILED', 'CANCELLED by 1000', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'CD', 'F'])(
  '%s: ended',
  (state) => {
    expect(answer(0, `${state}\n`).state).toBe('ended');
  },
);

test('no answer, or squeue forgetting the job ("Invalid job id"), means it has ended', () => {
  expect(answer(0, '')).toEqual({ state: 'ended', detail: 'no longer in the queue' });
  expect(answer(1, '', 'slurm_load_jobs error: Invalid job id specified\n').state).toBe('ended');
});

test('anything else is unknown, with what the command said', () => {
  expect(answer(1, '', 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n')).toEqual({
    state: 'unknown',
    detail: 'status command exited 1: slurm_load_jobs error: Unable to contact slurm controller (connect failure)',
  });
  expect(answer(0, 'WHATEVER\n')).toEqual({ state: 'unknown', detail: 'unrecognised state "WHATEVER"' });
});
