/** Workflows used only by the tests of the foundation. */
import { sleep } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';

export async function sleeper(duration: Duration): Promise<string> {
  await sleep(duration);
  return `slept ${String(duration)}`;
}
