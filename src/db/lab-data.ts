/**
 * What the lab's view keeps besides the sessions themselves (docs/http-api.md "What needs a person"): dismissals a
 * person made, problems the intake ran into, reconciliation's finds, and the hourly limit on per-config emails.
 */
import { EntitySchema, OptionalProps } from '@mikro-orm/core';

/** What a session needs, in the lab's words (src/lab-data/state.ts keeps it on the session). */
export const SESSION_STATES = [
  'waiting',
  'missing-scans',
  'downloading',
  'scans-present',
  'no-scans-expected',
  'no-redcap-record',
  'no-redcap-expected',
  'problem',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

/** What a dismissal says: no scans will come for the session, or no REDCap record will. */
export const DISMISSAL_KINDS = ['no-scans-expected', 'no-redcap-expected'] as const;
export type DismissalKind = (typeof DISMISSAL_KINDS)[number];

/** A person's word that something a session lacks will not come, with who said it, when and why. */
export class SessionDismissal {
  [OptionalProps]?: 'createdAt' | 'endedMonitors';
  sessionId!: string;
  kind!: DismissalKind;
  comment!: string;
  /** Who: the logged-in user of the lab pages, or `API_TOKEN` for a bearer caller. */
  createdBy!: string;
  createdAt: Date = new Date();
  /** True when this dismissal cancelled the session's monitoring (its undo starts the monitors again). */
  endedMonitors: boolean = false;
}

export type ProblemKind = 'intake-failed' | 'invalid-session-id';

/**
 * Something that went wrong and needs a person: one row per thing (`key`, e.g. one REDCap record's intake), kept up
 * to date while it recurs, resolved when it is put right (the record filed after all).
 */
export class Problem {
  [OptionalProps]?: 'firstAt' | 'lastAt';
  id!: number;
  /** `redcap:<configId>:<record, event and instance as JSON>` for an intake. */
  key!: string;
  kind!: ProblemKind;
  /** The study it concerns; null when that is not known (then every study the REDCap config files for shows it). */
  studyId?: string | null;
  siteId?: string | null;
  /** The session it is pinned on (that session's state is `problem`), when the session exists. */
  sessionId?: string | null;
  redcapConfigId?: number | null;
  record?: string | null;
  eventName?: string | null;
  repeatInstance?: number | null;
  /** The session id as REDCap has it, when it was read. */
  sessionName?: string | null;
  reason!: string;
  firstAt: Date = new Date();
  lastAt: Date = new Date();
  resolvedAt?: Date | null;
}

/** One reconciliation run that found completed records no Data Entry Trigger had announced. */
export class MissedTriggers {
  [OptionalProps]?: 'foundAt';
  /** `<workflowId>:<runId>` of the run. */
  run!: string;
  redcapConfigId!: number;
  count!: number;
  /** The first few rows, as the email names them. */
  sample!: string[];
  foundAt: Date = new Date();
}

/** The hourly limit of one scope (`redcap-config:<id>:<kind>`): which email owns the current window, and until when. */
export class EmailThrottle {
  scope!: string;
  key!: string;
  until!: Date;
}

/** An email the hourly limit kept back: counted, and told in the next digest instead. */
export class HeldEmail {
  [OptionalProps]?: 'heldAt';
  key!: string;
  kind!: string;
  scope!: string;
  subject!: string;
  heldAt: Date = new Date();
}

export const SessionDismissalSchema = new EntitySchema<SessionDismissal>({
  class: SessionDismissal,
  tableName: 'session_dismissal',
  properties: {
    sessionId: { type: 'string', length: 80, primary: true },
    kind: { type: 'string', length: 32, primary: true },
    comment: { type: 'text' },
    createdBy: { type: 'string' },
    createdAt: { type: 'datetime', onCreate: () => new Date() },
    endedMonitors: { type: 'boolean', default: false },
  },
});

export const ProblemSchema = new EntitySchema<Problem>({
  class: Problem,
  tableName: 'problem',
  indexes: [
    {
      name: 'problem_open_index',
      expression: `create index "problem_open_index" on "problem" ("study_id", "first_at") where "resolved_at" is null`,
    },
    {
      name: 'problem_open_session_index',
      expression: `create index "problem_open_session_index" on "problem" ("session_id") where "resolved_at" is null`,
    },
  ],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    key: { type: 'text', unique: true },
    kind: { type: 'string', length: 32 },
    studyId: { type: 'string', length: 32, nullable: true },
    siteId: { type: 'string', length: 32, nullable: true },
    sessionId: { type: 'string', length: 80, nullable: true },
    redcapConfigId: { type: 'number', nullable: true },
    record: { type: 'text', nullable: true },
    eventName: { type: 'text', nullable: true },
    repeatInstance: { type: 'number', nullable: true },
    sessionName: { type: 'text', nullable: true },
    reason: { type: 'text' },
    firstAt: { type: 'datetime', onCreate: () => new Date() },
    lastAt: { type: 'datetime', onCreate: () => new Date() },
    resolvedAt: { type: 'datetime', nullable: true },
  },
});

export const MissedTriggersSchema = new EntitySchema<MissedTriggers>({
  class: MissedTriggers,
  tableName: 'missed_triggers',
  properties: {
    run: { type: 'string', primary: true },
    redcapConfigId: { type: 'number', index: true },
    count: { type: 'number' },
    sample: { type: 'json' },
    foundAt: { type: 'datetime', onCreate: () => new Date() },
  },
});

export const EmailThrottleSchema = new EntitySchema<EmailThrottle>({
  class: EmailThrottle,
  tableName: 'email_throttle',
  properties: {
    scope: { type: 'string', length: 64, primary: true },
    key: { type: 'text' },
    until: { type: 'datetime' },
  },
});

export const HeldEmailSchema = new EntitySchema<HeldEmail>({
  class: HeldEmail,
  tableName: 'held_email',
  properties: {
    key: { type: 'string', length: 255, primary: true },
    kind: { type: 'string', length: 64 },
    scope: { type: 'string', length: 64 },
    subject: { type: 'text' },
    heldAt: { type: 'datetime', onCreate: () => new Date() },
  },
});

export const labDataSchemas = [
  SessionDismissalSchema,
  ProblemSchema,
  MissedTriggersSchema,
  EmailThrottleSchema,
  HeldEmailSchema,
];
