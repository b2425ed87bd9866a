/**
 * The lab's data model: studies run at sites; a participant's timepoint has numbered
 * sessions; sessions hold scans and may be linked to the REDCap record that logged them.
 * Plain classes with EntitySchema definitions (no decorators, no reflection).
 */
import { Collection, EntitySchema, OptionalProps } from '@mikro-orm/core';
import { IntakeFailureSchema } from './intake-failure';
import { JobRunSchema } from './job-run';
import { labDataSchemas, type SessionState } from './lab-data';
import { LabLoginSchema } from './lab-login';
import { SentEmailSchema } from './sent-email';
import { SessionXnatSchema, XnatConfigSchema, XnatLabelProblemSchema, XnatProjectSchema } from './xnat';

export class Study {
  id!: string; // e.g. SPN01
  name!: string;
  sites = new Collection<StudySite>(this);
}

export class Site {
  id!: string; // e.g. CMH
}

/** A study as run at one site. `code` is the study code used in that site's session ids. */
export class StudySite {
  [OptionalProps]?: 'usesRedcap' | 'createdAt';
  id!: number;
  study!: Study;
  site!: Site;
  code!: string;
  usesRedcap = false;
  downloadScript?: string | null;
  postDownloadScript?: string | null;
  /** `quietAfter` of the lab config: no upload for this long is outstanding (a quiet site); null: never. */
  quietAfterSeconds?: number | null;
  /** The latest scan registered for a session of this study at this site (kept by src/lab-data/state.ts). */
  lastScanAt?: Date | null;
  /** A site that never had an upload is quiet from here on. */
  createdAt: Date = new Date();
}

/** One participant (or phantom) at one visit, e.g. SPN01_CMH_0001_01. */
export class Timepoint {
  [OptionalProps]?: 'isPhantom';
  id!: string;
  site!: Site;
  isPhantom = false;
  studies = new Collection<Study>(this);
  sessions = new Collection<Session>(this);
}

/** One scanning session of a timepoint, e.g. SPN01_CMH_0001_01_01 (timepoint + number). */
export class Session {
  [OptionalProps]?: 'state';
  id!: string;
  timepoint!: Timepoint;
  num!: number;
  date?: string | null; // ISO date (YYYY-MM-DD)
  /** When an intake started the session's monitors: they run once, a re-save starts none (cleared when its record moves away). */
  monitorsStartedAt?: Date | null;
  scans = new Collection<Scan>(this);
  redcap?: SessionRedcap | null;
  empty?: EmptySession | null;
  /** Set by POST /sessions/:id/monitors/cancel: every monitor of the session ends `cancelled` (no email). */
  monitorsCancelledAt?: Date | null;
  monitorsCancelReason?: string | null;
  /** The study and site the id names (the lists filter on them). */
  study?: Study | null;
  site?: Site | null;
  /** Recomputed from the facts by src/lab-data/state.ts whenever a path changes them; never set elsewhere. */
  state: SessionState = 'waiting';
  /** When what needs a person began (missing scans, scans without a REDCap record, a problem); null: nothing does. */
  outstandingSince?: Date | null;
}

export class Scan {
  [OptionalProps]?: 'createdAt';
  id!: number;
  session!: Session;
  name!: string;
  series!: number;
  tag!: string;
  description?: string | null;
  createdAt: Date = new Date();
}

/** A session that will never get scan data (e.g. the participant withdrew), with why. */
export class EmptySession {
  [OptionalProps]?: 'createdAt';
  session!: Session;
  comment!: string;
  user?: string | null;
  createdAt: Date = new Date();
}

/**
 * A person of the lab config. `admin` users get the monitors' email and may act on the lab's pages, `staff` users may
 * look; `studies`, when not empty, are the only studies the user sees (empty: all of them).
 */
export class User {
  [OptionalProps]?: 'admin' | 'staff' | 'digest';
  id!: number;
  name!: string;
  email?: string | null;
  admin = false;
  staff = false;
  /** Gets the daily digest of the studies the user sees (admins always do). */
  digest = false;
  /** The studies the user sees and gets the digest of; none: every study. */
  studies = new Collection<Study>(this);
}

/** How to read one REDCap instrument: where the server is and which fields mean what. */
export class RedcapConfig {
  id!: number;
  url!: string; // base URL with trailing slash, e.g. https://redcap.example.org/
  project!: number;
  instrument!: string;
  version!: string;
  /** REDCap's version in the project_url of the latest trigger; record links use it rather than `version`. */
  detVersion?: string | null;
  token!: string;
  sessionField!: string;
  dateField!: string;
  commentField!: string;
  userField?: string | null;
  completedField!: string;
  completedValue!: string;
}

/**
 * One REDCap record (row) as read back from the API, identified by (config, record, event, repeat instance), never
 * by its date: date, comment, user and session follow REDCap at every intake.
 */
export class RedcapRecord {
  [OptionalProps]?: 'eventName' | 'repeatInstance' | 'comment' | 'createdAt';
  id!: number;
  config!: RedcapConfig;
  record!: string;
  eventName: string = ''; // REDCap unique event name; '' for classic projects
  repeatInstance: number = 0; // redcap_repeat_instance of a repeating instrument or event; 0 for a form that does not repeat
  eventId?: number | null;
  /** ISO date of the scan, from the configured date field; null once forgotten (npm run cli -- forget). */
  entryDate!: string | null;
  user?: string | null;
  comment: string = '';
  sessionName!: string; // the session id exactly as entered in REDCap
  createdAt: Date = new Date();
}

/** Reconciliation of one REDCap config (docs/redcap.md "Reconciliation"): how far it has got. */
export class ReconcileState {
  config!: RedcapConfig;
  /** The start of the last successful reconciliation: every change made before it has been seen. */
  reconciledUntil!: Date;
}

/**
 * Link from a session to its REDCap record (a record belongs to one session at most). A link whose record is null
 * marks a session as expecting no record; no link at all means nothing is known yet. A linked record cannot be
 * deleted (the database restricts it), so a deletion never turns into "expects no record".
 */
export class SessionRedcap {
  session!: Session;
  record?: RedcapRecord | null;
}

export const StudySchema = new EntitySchema<Study>({
  class: Study,
  tableName: 'study',
  properties: {
    id: { type: 'string', primary: true, length: 32 },
    name: { type: 'string' },
    sites: { kind: '1:m', entity: () => StudySite, mappedBy: 'study' },
  },
});

export const SiteSchema = new EntitySchema<Site>({
  class: Site,
  tableName: 'site',
  properties: {
    id: { type: 'string', primary: true, length: 32 },
  },
});

export const StudySiteSchema = new EntitySchema<StudySite>({
  class: StudySite,
  tableName: 'study_site',
  uniques: [{ properties: ['study', 'site'] }, { properties: ['code', 'site'] }],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    study: { kind: 'm:1', entity: () => Study, deleteRule: 'cascade' },
    site: { kind: 'm:1', entity: () => Site, deleteRule: 'cascade' },
    code: { type: 'string', length: 32 },
    usesRedcap: { type: 'boolean', default: false },
    downloadScript: { type: 'string', nullable: true },
    postDownloadScript: { type: 'string', nullable: true },
    quietAfterSeconds: { type: 'integer', nullable: true },
    lastScanAt: { type: 'datetime', nullable: true },
    createdAt: { type: 'datetime', onCreate: () => new Date() },
  },
});

export const TimepointSchema = new EntitySchema<Timepoint>({
  class: Timepoint,
  tableName: 'timepoint',
  properties: {
    id: { type: 'string', primary: true, length: 64 },
    site: { kind: 'm:1', entity: () => Site },
    isPhantom: { type: 'boolean', default: false },
    studies: { kind: 'm:n', entity: () => Study, owner: true, pivotTable: 'study_timepoint' },
    sessions: { kind: '1:m', entity: () => Session, mappedBy: 'timepoint' },
  },
});

/** The order of the session lists: the date, where a session has none the earliest of all, then the id. */
export const LIST_ORDER = `coalesce("date", '-infinity'::date), "id"`;

export const SessionSchema = new EntitySchema<Session>({
  class: Session,
  tableName: 'session',
  uniques: [{ properties: ['timepoint', 'num'] }],
  // The lists (src/lab-data/list.ts): newest first by date (sessions without one last), then id, within a study and
  // state; the outstanding work of a study, oldest first.
  indexes: [
    // The lab's pages: a study's newest sessions, and its sessions of the last weeks.
    { properties: ['date', 'id'] },
    { name: 'session_list_index', expression: `create index "session_list_index" on "session" (${LIST_ORDER})` },
    {
      name: 'session_study_list_index',
      expression: `create index "session_study_list_index" on "session" ("study_id", ${LIST_ORDER})`,
    },
    {
      name: 'session_study_state_list_index',
      expression: `create index "session_study_state_list_index" on "session" ("study_id", "state", ${LIST_ORDER})`,
    },
    {
      name: 'session_outstanding_index',
      expression: `create index "session_outstanding_index" on "session" ("study_id", "outstanding_since") where "outstanding_since" is not null`,
    },
  ],
  properties: {
    id: { type: 'string', primary: true, length: 80 },
    timepoint: { kind: 'm:1', entity: () => Timepoint, deleteRule: 'cascade' },
    num: { type: 'number' },
    date: { type: 'date', nullable: true },
    monitorsStartedAt: { type: 'datetime', nullable: true },
    scans: { kind: '1:m', entity: () => Scan, mappedBy: 'session' },
    redcap: { kind: '1:1', entity: () => SessionRedcap, mappedBy: 'session', nullable: true },
    empty: { kind: '1:1', entity: () => EmptySession, mappedBy: 'session', nullable: true },
    monitorsCancelledAt: { type: 'datetime', nullable: true },
    monitorsCancelReason: { type: 'text', nullable: true },
    study: { kind: 'm:1', entity: () => Study, nullable: true, deleteRule: 'set null' },
    site: { kind: 'm:1', entity: () => Site, nullable: true, deleteRule: 'set null' },
    state: { type: 'string', length: 24, default: 'waiting' },
    outstandingSince: { type: 'datetime', nullable: true },
  },
});

export const ScanSchema = new EntitySchema<Scan>({
  class: Scan,
  tableName: 'scan',
  // The lab's pages: a site's latest scan.
  indexes: [{ properties: ['createdAt', 'id'] }],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    session: { kind: 'm:1', entity: () => Session, deleteRule: 'cascade', index: true },
    name: { type: 'string', unique: true },
    series: { type: 'number' },
    tag: { type: 'string', length: 64 },
    description: { type: 'text', nullable: true },
    createdAt: { type: 'datetime', onCreate: () => new Date() },
  },
});

export const EmptySessionSchema = new EntitySchema<EmptySession>({
  class: EmptySession,
  tableName: 'empty_session',
  properties: {
    session: { kind: '1:1', entity: () => Session, owner: true, primary: true, deleteRule: 'cascade' },
    comment: { type: 'text' },
    user: { type: 'string', nullable: true },
    createdAt: { type: 'datetime', onCreate: () => new Date() },
  },
});

export const UserSchema = new EntitySchema<User>({
  class: User,
  tableName: 'app_user',
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    name: { type: 'string', unique: true },
    email: { type: 'string', nullable: true },
    admin: { type: 'boolean', default: false },
    staff: { type: 'boolean', default: false },
    digest: { type: 'boolean', default: false },
    studies: { kind: 'm:n', entity: () => Study, owner: true, pivotTable: 'app_user_study' },
  },
});

export const RedcapConfigSchema = new EntitySchema<RedcapConfig>({
  class: RedcapConfig,
  tableName: 'redcap_config',
  uniques: [{ properties: ['url', 'project', 'instrument'] }],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    url: { type: 'string' },
    project: { type: 'number' },
    instrument: { type: 'string' },
    version: { type: 'string' },
    detVersion: { type: 'string', length: 32, nullable: true },
    token: { type: 'string', hidden: true },
    sessionField: { type: 'string' },
    dateField: { type: 'string' },
    commentField: { type: 'string' },
    userField: { type: 'string', nullable: true },
    completedField: { type: 'string' },
    completedValue: { type: 'string' },
  },
});

export const RedcapRecordSchema = new EntitySchema<RedcapRecord>({
  class: RedcapRecord,
  tableName: 'redcap_record',
  uniques: [{ properties: ['config', 'record', 'eventName', 'repeatInstance'] }],
  // The lab's pages: a site's latest record.
  indexes: [{ properties: ['entryDate', 'id'] }],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    config: { kind: 'm:1', entity: () => RedcapConfig },
    record: { type: 'string' },
    eventName: { type: 'string', default: '' },
    repeatInstance: { type: 'number', default: 0 },
    eventId: { type: 'number', nullable: true },
    entryDate: { type: 'date', nullable: true },
    user: { type: 'string', nullable: true },
    comment: { type: 'text', default: '' },
    sessionName: { type: 'string' },
    createdAt: { type: 'datetime', onCreate: () => new Date() },
  },
});

export const ReconcileStateSchema = new EntitySchema<ReconcileState>({
  class: ReconcileState,
  tableName: 'reconcile_state',
  properties: {
    config: { kind: '1:1', entity: () => RedcapConfig, owner: true, primary: true, deleteRule: 'cascade' },
    reconciledUntil: { type: 'datetime' },
  },
});

export const SessionRedcapSchema = new EntitySchema<SessionRedcap>({
  class: SessionRedcap,
  tableName: 'session_redcap',
  properties: {
    session: { kind: '1:1', entity: () => Session, owner: true, primary: true, deleteRule: 'cascade' },
    record: { kind: 'm:1', entity: () => RedcapRecord, nullable: true, unique: true, deleteRule: 'no action' },
  },
});

export const entities = [
  StudySchema,
  SiteSchema,
  StudySiteSchema,
  TimepointSchema,
  SessionSchema,
  ScanSchema,
  EmptySessionSchema,
  UserSchema,
  RedcapConfigSchema,
  RedcapRecordSchema,
  SessionRedcapSchema,
  SentEmailSchema,
  ReconcileStateSchema,
  JobRunSchema,
  XnatConfigSchema,
  XnatProjectSchema,
  SessionXnatSchema,
  XnatLabelProblemSchema,
  LabLoginSchema,
  ...labDataSchemas,
  IntakeFailureSchema,
];
