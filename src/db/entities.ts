/**
 * The lab's data model: studies run at sites; a participant's timepoint has numbered
 * sessions; sessions hold scans and may be linked to the REDCap record that logged them.
 * Plain classes with EntitySchema definitions (no decorators, no reflection).
 */
import { Collection, EntitySchema, OptionalProps } from '@mikro-orm/core';
import { SentEmailSchema } from './sent-email';

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
  [OptionalProps]?: 'usesRedcap';
  id!: number;
  study!: Study;
  site!: Site;
  code!: string;
  usesRedcap = false;
  downloadScript?: string | null;
  postDownloadScript?: string | null;
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
  id!: string;
  timepoint!: Timepoint;
  num!: number;
  date?: string | null; // ISO date (YYYY-MM-DD)
  scans = new Collection<Scan>(this);
  redcap?: SessionRedcap | null;
  empty?: EmptySession | null;
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

export class User {
  [OptionalProps]?: 'admin';
  id!: number;
  name!: string;
  email?: string | null;
  admin = false;
}

/** How to read one REDCap instrument: where the server is and which fields mean what. */
export class RedcapConfig {
  id!: number;
  url!: string; // base URL with trailing slash, e.g. https://redcap.example.org/
  project!: number;
  instrument!: string;
  version!: string;
  token!: string;
  sessionField!: string;
  dateField!: string;
  commentField!: string;
  userField?: string | null;
  completedField!: string;
  completedValue!: string;
}

/** One REDCap record (row) as read back from the API. */
export class RedcapRecord {
  [OptionalProps]?: 'eventName' | 'comment' | 'createdAt';
  id!: number;
  config!: RedcapConfig;
  record!: string;
  eventName: string = ''; // REDCap unique event name; '' for classic projects
  eventId?: number | null;
  entryDate!: string; // ISO date of the scan, from the configured date field
  user?: string | null;
  comment: string = '';
  sessionName!: string; // the session id exactly as entered in REDCap
  createdAt: Date = new Date();
}

/**
 * Link from a session to its REDCap record. A link whose record is null marks a session
 * as expecting no record; no link at all means nothing is known yet.
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

export const SessionSchema = new EntitySchema<Session>({
  class: Session,
  tableName: 'session',
  uniques: [{ properties: ['timepoint', 'num'] }],
  properties: {
    id: { type: 'string', primary: true, length: 80 },
    timepoint: { kind: 'm:1', entity: () => Timepoint, deleteRule: 'cascade' },
    num: { type: 'number' },
    date: { type: 'date', nullable: true },
    scans: { kind: '1:m', entity: () => Scan, mappedBy: 'session' },
    redcap: { kind: '1:1', entity: () => SessionRedcap, mappedBy: 'session', nullable: true },
    empty: { kind: '1:1', entity: () => EmptySession, mappedBy: 'session', nullable: true },
  },
});

export const ScanSchema = new EntitySchema<Scan>({
  class: Scan,
  tableName: 'scan',
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
  uniques: [{ properties: ['record', 'config', 'eventName', 'entryDate'] }],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    config: { kind: 'm:1', entity: () => RedcapConfig },
    record: { type: 'string' },
    eventName: { type: 'string', default: '' },
    eventId: { type: 'number', nullable: true },
    entryDate: { type: 'date' },
    user: { type: 'string', nullable: true },
    comment: { type: 'text', default: '' },
    sessionName: { type: 'string' },
    createdAt: { type: 'datetime', onCreate: () => new Date() },
  },
});

export const SessionRedcapSchema = new EntitySchema<SessionRedcap>({
  class: SessionRedcap,
  tableName: 'session_redcap',
  properties: {
    session: { kind: '1:1', entity: () => Session, owner: true, primary: true, deleteRule: 'cascade' },
    record: { kind: 'm:1', entity: () => RedcapRecord, nullable: true },
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
];
