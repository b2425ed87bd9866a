/**
 * Starting a REDCap intake (docs/temporal.md): the one way, whether a Data Entry Trigger or a reconciliation asks
 * for it. Business id `redcap-intake:<configId>:<record>[:<event>][#<instance>]`. Every start reads the record again:
 * a finished intake (completed or failed) runs again under the same id; a running one is joined and told by the
 * `recordSaved` signal to read the record once more when it is done, so that a save made while it ran is not lost.
 */
import type { Client } from '@temporalio/client';
import type { RedcapIntakeWorkflow } from '../../workflows/intake';
import { recordName } from '../redcap/names';
import {
  REDCAP_INTAKE_WORKFLOW,
  recordSavedSignal,
  redcapIntakeWorkflowId,
  type RedcapIntakeInput,
} from '../../surface';

/** The REDCap config an intake is for, as the Web UI's memo and summary name it. */
export interface IntakeConfig {
  id: number;
  url: string;
  project: number;
  instrument: string;
}

export interface StartedIntake {
  workflowId: string;
}

/**
 * Starts the intake of `input`'s record, or joins (and signals) the running one. Throws what the client throws
 * (e.g. Temporal unavailable); the caller bounds the call. `memo` adds to the intake's memo (reconciliation records
 * there which row it started the intake for).
 */
export async function startRedcapIntake(
  client: Client,
  taskQueue: string,
  config: IntakeConfig,
  input: RedcapIntakeInput,
  memo: Record<string, unknown> = {},
): Promise<StartedIntake> {
  const workflowId = redcapIntakeWorkflowId(config.id, input.record, input.eventName, input.instance);
  await client.workflow.signalWithStart<typeof RedcapIntakeWorkflow, []>(REDCAP_INTAKE_WORKFLOW, {
    taskQueue,
    workflowId,
    args: [input],
    signal: recordSavedSignal,
    // A running intake is joined (the signal makes it read again); a finished one, completed or failed, runs again.
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    memo: {
      redcapUrl: config.url,
      project: config.project,
      instrument: config.instrument,
      record: input.record,
      eventName: input.eventName ?? '',
      ...(input.instance ? { instance: input.instance } : {}),
      ...memo,
    },
    staticSummary: `REDCap intake of record ${recordName(input.record, input.eventName, input.instance)}, project ${config.project} ${config.instrument}`,
  });
  return { workflowId };
}
