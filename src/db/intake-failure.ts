/**
 * Failed intakes (docs/redcap.md "When an intake fails"): one row per failed read of a run. The intake's history says
 * only which record and what kind of problem; this row has the rest: the full reason for the admins' email (it may
 * quote what REDCap holds, e.g. a session id that does not parse), and, when the run refused the row as it read it,
 * the row's digest, by which reconciliation knows that the run saw the row as REDCap has it now. A run that gave up
 * (REDCap or the database down for its whole time limit) has no digest: nothing was decided about the row.
 */
import { EntitySchema, OptionalProps } from '@mikro-orm/core';
import type { RedcapConfig } from './entities';

export class IntakeFailure {
  [OptionalProps]?: 'eventName' | 'repeatInstance' | 'createdAt';
  id!: number;
  config!: RedcapConfig;
  record!: string;
  /** '' in classic projects. */
  eventName: string = '';
  /** 0 for a form that does not repeat. */
  repeatInstance: number = 0;
  workflowId!: string;
  runId!: string;
  /** Which read of the run failed (1, or more when REDCap saved the record again while it ran). */
  read!: number;
  /** e.g. InvalidSessionIdError, RedcapFieldInvalid, IntakeTimedOut. */
  type!: string;
  /** The configured field the problem is in, when it is in one. */
  field?: string | null;
  /** The full reason, for the admins' email; never in a workflow history. */
  detail!: string;
  /** rowDigest (src/redcap/reconcile.ts) of the row refused; null when none was (it gave up, or REDCap said no). */
  rowDigest?: string | null;
  createdAt: Date = new Date();
  /** When the failure was reported (the admins emailed, or the email held by its limit). */
  reportedAt?: Date | null;
}

export const IntakeFailureSchema = new EntitySchema<IntakeFailure>({
  class: IntakeFailure,
  tableName: 'intake_failure',
  uniques: [{ properties: ['runId', 'read'] }],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    config: { kind: 'm:1', entity: 'RedcapConfig', deleteRule: 'cascade' },
    record: { type: 'string' },
    eventName: { type: 'string', default: '' },
    repeatInstance: { type: 'number', default: 0 },
    workflowId: { type: 'string', length: 1000 },
    runId: { type: 'string', length: 64 },
    read: { type: 'number' },
    type: { type: 'string', length: 64 },
    field: { type: 'string', nullable: true },
    detail: { type: 'text' },
    rowDigest: { type: 'string', length: 16, nullable: true },
    createdAt: { type: 'datetime', onCreate: () => new Date() },
    reportedAt: { type: 'datetime', nullable: true },
  },
});
