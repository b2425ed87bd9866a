/**
 * Starting a REDCap intake (docs/temporal.md): the one way, whether a Data Entry Trigger or a reconciliation asks
 * for it. Business id `redcap-intake:<configId>:<record>[:<event>]`; a start for a running intake joins it.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { REDCAP_INTAKE_WORKFLOW, redcapIntakeWorkflowId, type RedcapIntakeInput } from '../../surface';

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
 * Starts the intake of `input`'s record, or joins the running one. A finished intake is not run again (a failed one
 * is). Throws what the client throws (e.g. Temporal unavailable); the caller bounds the call. `memo` adds to the
 * intake's memo (reconciliation records there which row it started the intake for).
 */
export async function startRedcapIntake(
  client: Client,
  taskQueue: string,
  config: IntakeConfig,
  input: RedcapIntakeInput,
  memo: Record<string, unknown> = {},
): Promise<StartedIntake> {
  const workflowId = redcapIntakeWorkflowId(config.id, input.record, input.eventName, input.instance);
  try {
    await client.workflow.start(REDCAP_INTAKE_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [input],
      // A trigger for a running intake joins it; a finished intake is not run again, a failed one is.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      memo: { redcapUrl: config.url, project: config.project, instrument: config.instrument, record: input.record, eventName: input.eventName ?? '', ...memo },
      staticSummary: `REDCap intake of record ${input.record}${input.eventName ? ` (${input.eventName})` : ''}, project ${config.project} ${config.instrument}`,
    });
  } catch (err) {
    // The record's intake already completed: nothing to start, same answer.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  return { workflowId };
}
