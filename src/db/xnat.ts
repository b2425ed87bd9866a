/**
 * The lab's XNAT servers (docs/xnat.md): how to log in, which XNAT project holds which study at which site, what
 * XNAT last said about each session, and how far the sync of each project has read.
 */
import { Collection, EntitySchema, OptionalProps } from '@mikro-orm/core';
import { Session, StudySite } from './entities';

/** One XNAT server and the account the service reads it with. */
export class XnatConfig {
  id!: number;
  url!: string; // base URL with trailing slash, e.g. https://xnat.example.org/
  user!: string;
  password!: string;
  /** The zone XNAT writes its times in (IANA name); null: the service's own zone. */
  timezone?: string | null;
  projects = new Collection<XnatProject>(this);
}

/** An XNAT project and the study at the site whose sessions it holds (one project per study site). */
export class XnatProject {
  id!: number;
  config!: XnatConfig;
  project!: string; // XNAT project id, e.g. SPN01_CMH
  studySite!: StudySite;
  /** The start of the last successful sync: every experiment added or changed before it has been read. */
  syncedUntil?: Date | null;
  /** The latest upload to the project that the sync saw (archived or in the prearchive), for quiet-site alerts. */
  lastUploadAt?: Date | null;
}

export type XnatStateName = 'absent' | 'prearchive' | 'archived' | 'unreachable';

/** What XNAT said about a session when it was last asked (src/xnat/state.ts). */
export class SessionXnat {
  session!: Session;
  state!: XnatStateName;
  /** archived: when XNAT archived it; prearchive: when it reached the prearchive. */
  since?: Date | null;
  /** archived: the experiment's scans, when they were read. */
  scans?: number | null;
  checkedAt!: Date;
  /** unreachable: why. */
  reason?: string | null;
  /** archived: XNAT's accession id of the experiment, e.g. XNAT_E00042. */
  experiment?: string | null;
}

/** An experiment whose label names no session of its project (reported, never filed), until its label is fixed. */
export class XnatLabelProblem {
  [OptionalProps]?: 'seenAt';
  id!: number;
  project!: XnatProject;
  experiment!: string; // XNAT's accession id
  label!: string;
  reason!: string;
  /** When the sync last saw it so. */
  seenAt: Date = new Date();
}

export const XnatConfigSchema = new EntitySchema<XnatConfig>({
  class: XnatConfig,
  tableName: 'xnat_config',
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    url: { type: 'string', unique: true },
    user: { type: 'string' },
    password: { type: 'string', hidden: true },
    timezone: { type: 'string', length: 64, nullable: true },
    projects: { kind: '1:m', entity: () => XnatProject, mappedBy: 'config' },
  },
});

export const XnatProjectSchema = new EntitySchema<XnatProject>({
  class: XnatProject,
  tableName: 'xnat_project',
  uniques: [{ properties: ['config', 'project'] }],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    config: { kind: 'm:1', entity: () => XnatConfig, deleteRule: 'cascade' },
    project: { type: 'string', length: 64 },
    studySite: { kind: 'm:1', entity: () => StudySite, unique: true, deleteRule: 'cascade' },
    syncedUntil: { type: 'datetime', nullable: true },
    lastUploadAt: { type: 'datetime', nullable: true },
  },
});

export const SessionXnatSchema = new EntitySchema<SessionXnat>({
  class: SessionXnat,
  tableName: 'session_xnat',
  properties: {
    session: { kind: '1:1', entity: () => Session, owner: true, primary: true, deleteRule: 'cascade' },
    state: { type: 'string', length: 16 },
    since: { type: 'datetime', nullable: true },
    scans: { type: 'number', nullable: true },
    checkedAt: { type: 'datetime' },
    reason: { type: 'text', nullable: true },
    experiment: { type: 'string', length: 64, nullable: true },
  },
});

export const XnatLabelProblemSchema = new EntitySchema<XnatLabelProblem>({
  class: XnatLabelProblem,
  tableName: 'xnat_label_problem',
  uniques: [{ properties: ['project', 'experiment'] }],
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    project: { kind: 'm:1', entity: () => XnatProject, deleteRule: 'cascade' },
    experiment: { type: 'string', length: 64 },
    label: { type: 'text' },
    reason: { type: 'text' },
    seenAt: { type: 'datetime', onCreate: () => new Date() },
  },
});
