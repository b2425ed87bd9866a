/**
 * Starting a REDCap intake (docs/temporal.md): the one way, whether a Data Entry Trigger or a reconciliation asks
 * for it. Business id `redcap-intake:<configId>:<record>[:<event>][#<instance>]` (surface redcapIntakeWorkflowId,
 * with `%`, `:` and `#` of the record and event percent-encoded). Every start reads the record again: a finished
 * intake (completed or failed) runs again under the same id; a running one is joined and told by the `recordSaved`
 * signal to read the record once more when it is done, so that a save made while it ran is not lost.
 *
 * Intakes started before 0.3.0 have their parts as sent in the id (`A#2` and `A` instance 2 shared one): for a record
 * or event whose name holds one of those characters, a running intake under that old id is still the one a new
 * trigger joins and reconciliation finds, once its memo shows it is for the same row.
 */
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import type { RedcapIntakeWorkflow } from '../../workflows/intake';
import { recordName } from '../redcap/names';
import {
  REDCAP_INTAKE_WORKFLOW,
  recordSavedSignal,
  redcapIntakeWorkflowId,
  type IntakeTrigger,
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
  const legacy = await legacyIntake(client, input);
  if (legacy?.description.status.name === 'RUNNING') {
    try {
      await client.workflow.getHandle(legacy.workflowId).signal(recordSavedSignal);
      return { workflowId: legacy.workflowId };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err; // it ended meanwhile: start under the id of today
    }
  }
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

/** A row's intake as Temporal has it: its id and the description of its latest run. */
export interface FoundIntake {
  workflowId: string;
  description: WorkflowExecutionDescription;
}

/**
 * The latest run of a row's intake: under today's id, or else (a name with `%`, `:` or `#`) one started before 0.3.0
 * under the old id for the same row. A run under today's id whose memo names another row is such an old intake of
 * another record (`A#2` held `A` instance 2's id): not this row's. Undefined when there is none.
 */
export async function findRedcapIntake(client: Client, trigger: IntakeTrigger): Promise<FoundIntake | undefined> {
  const workflowId = redcapIntakeWorkflowId(trigger.configId, trigger.record, trigger.eventName, trigger.instance);
  const found = await describeIntake(client, workflowId);
  if (found && namesRow(found, trigger) !== false) return found;
  return legacyIntake(client, trigger);
}

/** The id intakes had before 0.3.0: the parts as sent, so that `A#2` and `A` instance 2 shared one. */
export function legacyRedcapIntakeWorkflowId(trigger: IntakeTrigger): string {
  const { configId, record, eventName, instance } = trigger;
  return `redcap-intake:${configId}:${record}${eventName ? `:${eventName}` : ''}${instance ? `#${instance}` : ''}`;
}

/** The intake of this row under the old id, if that differs from today's and the run's memo names this very row. */
async function legacyIntake(client: Client, trigger: IntakeTrigger): Promise<FoundIntake | undefined> {
  const workflowId = legacyRedcapIntakeWorkflowId(trigger);
  if (workflowId === redcapIntakeWorkflowId(trigger.configId, trigger.record, trigger.eventName, trigger.instance))
    return undefined;
  const found = await describeIntake(client, workflowId);
  return found && namesRow(found, trigger) ? found : undefined;
}

/** Whether the run's memo (startRedcapIntake's, since 0.2.0) names the row; undefined when it names none. */
function namesRow(found: FoundIntake, trigger: IntakeTrigger): boolean | undefined {
  const memo = found.description.memo ?? {};
  if (typeof memo.record !== 'string') return undefined;
  return (
    memo.record === trigger.record &&
    (memo.eventName || null) === (trigger.eventName || null) &&
    (memo.instance || null) === (trigger.instance || null)
  );
}

async function describeIntake(client: Client, workflowId: string): Promise<FoundIntake | undefined> {
  try {
    return { workflowId, description: await client.workflow.getHandle(workflowId).describe() };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
