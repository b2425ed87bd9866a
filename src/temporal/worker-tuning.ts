/**
 * The worker options that decide its memory and throughput (docs/operating.md "Tuning the worker"), from the
 * configuration; src/worker.ts spreads them into Worker.create. Unset values keep the SDK's defaults.
 */
import type { WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config';

export type WorkerTuning = Pick<
  WorkerOptions,
  | 'maxCachedWorkflows'
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxConcurrentActivityTaskExecutions'
  | 'reuseV8Context'
>;

export function workerTuning(config: Pick<Config, 'worker'>): WorkerTuning {
  const { cachedWorkflows, workflowTaskSlots, activitySlots, reuseV8Context } = config.worker;
  const tuning: WorkerTuning = {
    maxCachedWorkflows: cachedWorkflows,
    maxConcurrentWorkflowTaskExecutions: workflowTaskSlots,
    maxConcurrentActivityTaskExecutions: activitySlots,
    reuseV8Context,
  };
  return Object.fromEntries(Object.entries(tuning).filter(([, value]) => value !== undefined)) as WorkerTuning;
}
