/**
 * The fleet bench's same-shape no-op: what Temporal itself needs for a monitor's shape, and nothing of ours. It is
 * started as ScanImportWorkflow is (src/temporal/monitors.ts scanImportStartOptions: its input, id policy, search
 * attributes, memo, summary and details), sets one timer, and ends when `scansArrived` comes; its worker
 * (bench/noop-worker.ts) runs no activity. Not part of the service: it lives here, not in workflows/.
 */
import { condition, setHandler } from '@temporalio/workflow';
import { scansArrivedSignal, type ScanImportInput } from '../surface';

export async function SameShapeNoop(input: ScanImportInput): Promise<{ outcome: 'scans-present' | 'timed-out' }> {
  let arrived = false;
  setHandler(scansArrivedSignal, () => {
    arrived = true;
  });
  return { outcome: (await condition(() => arrived, input.checkDelayMs)) ? 'scans-present' : 'timed-out' };
}
