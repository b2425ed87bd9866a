/**
 * Applies a parsed lab config to the database in one transaction. Idempotent: an entity is found by its
 * natural key (study id, site id, study + site, user name, REDCap url + project + instrument), updated in
 * place, and created only when absent. Entities in the database but not in the file are left alone.
 */
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { RedcapConfig, Site, Study, StudySite, User } from '../db/entities';
import { XnatConfig, XnatProject } from '../db/xnat';
import type { ConfigPath } from './parse';
import { LabConfigError, formatPath, type ConfigProblem } from './problems';
import type {
  LabConfig,
  RedcapProjectConfig,
  StudyConfig,
  StudySiteConfig,
  UserConfig,
  XnatServerConfig,
} from './schema';

export type EntityKind = 'study' | 'site' | 'study site' | 'user' | 'REDCap config' | 'XNAT server' | 'XNAT project';

export interface EntityChange {
  kind: EntityKind;
  /** How the operator knows it, e.g. `SPN01 at CMH`. */
  name: string;
  action: 'created' | 'updated' | 'unchanged';
  /** For `updated`: the keys (as written in the file) whose values changed. Values are never reported. */
  fields: string[];
}

export interface ApplyReport {
  changes: EntityChange[];
  /** False when the database already matched the file. */
  changed: boolean;
}

export interface ApplyOptions {
  /** For messages: the file and the line of a value in it (from parseLabConfig). */
  file?: string;
  lineOf?: (path: ConfigPath) => number | undefined;
}

export async function applyLabConfig(
  em: EntityManager,
  config: LabConfig,
  options: ApplyOptions = {},
): Promise<ApplyReport> {
  const problem = (path: ConfigPath, message: string): ConfigProblem => ({
    line: options.lineOf?.(path),
    path: formatPath(path),
    message,
  });
  try {
    const changes = await em.transactional(async (tx) => {
      const changes: EntityChange[] = [];
      for (const study of config.studies) changes.push(await applyStudy(tx, study));
      for (const siteId of new Set(config.studies.flatMap((study) => study.sites.map((site) => site.site)))) {
        changes.push(await applySite(tx, siteId));
      }
      for (const [i, study] of config.studies.entries()) {
        for (const [j, site] of study.sites.entries()) {
          const conflict = await codeConflict(tx, config, study, site);
          if (conflict) throw new LabConfigError([problem(['studies', i, 'sites', j, 'code'], conflict)], options.file);
          changes.push(await applyStudySite(tx, study, site));
        }
      }
      for (const [i, user] of config.users.entries()) {
        const unknown = await unknownStudies(tx, user.studies ?? []);
        if (unknown.length > 0) {
          throw new LabConfigError(
            [problem(['users', i, 'studies'], `no study ${unknown.join(', ')} (in the file or the database)`)],
            options.file,
          );
        }
        changes.push(await applyUser(tx, user));
      }
      for (const redcap of config.redcap) changes.push(await applyRedcapConfig(tx, redcap));
      changes.push(...(await applyXnat(tx, config.xnat, problem, options.file)));
      return changes;
    });
    return { changes, changed: changes.some((change) => change.action !== 'unchanged') };
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) {
      // The driver's message holds the SQL and its values (tokens among them): report only what clashed.
      const detail =
        (err as { detail?: string; constraint?: string }).detail ?? (err as { constraint?: string }).constraint;
      throw new LabConfigError(
        [{ message: `the database refused the change: ${detail ?? 'a unique value is already taken'}` }],
        options.file,
      );
    }
    throw err;
  }
}

async function applyStudy(em: EntityManager, study: StudyConfig): Promise<EntityChange> {
  const existing = await em.findOne(Study, study.id);
  if (!existing) {
    em.create(Study, { id: study.id, name: study.name });
    return created('study', study.id);
  }
  return outcome('study', study.id, reconcile(existing, { name: study.name }));
}

async function applySite(em: EntityManager, siteId: string): Promise<EntityChange> {
  if (await em.findOne(Site, siteId)) return outcome('site', siteId, []);
  em.create(Site, { id: siteId });
  return created('site', siteId);
}

async function applyStudySite(em: EntityManager, study: StudyConfig, site: StudySiteConfig): Promise<EntityChange> {
  const name = `${study.id} at ${site.site}`;
  const wanted = {
    code: site.code ?? study.id,
    usesRedcap: site.usesRedcap,
    downloadScript: site.downloadScript ?? null,
    postDownloadScript: site.postDownloadScript ?? null,
    quietAfterSeconds: site.quietAfter ?? null,
  };
  const existing = await em.findOne(StudySite, { study: study.id, site: site.site });
  if (!existing) {
    em.create(StudySite, {
      study: em.getReference(Study, study.id),
      site: em.getReference(Site, site.site),
      ...wanted,
    });
    return created('study site', name);
  }
  return outcome('study site', name, reconcile(existing, wanted, { quietAfterSeconds: 'quietAfter' }));
}

/**
 * Session ids find their study through (code, site), so a code is unique per site. A code held by a study
 * that the file does not move elsewhere cannot be taken. (Two studies in the file sharing one is a
 * schema error.)
 */
async function codeConflict(
  em: EntityManager,
  config: LabConfig,
  study: StudyConfig,
  site: StudySiteConfig,
): Promise<string | undefined> {
  const code = site.code ?? study.id;
  const holder = await em.findOne(StudySite, { code, site: site.site, study: { $ne: study.id } });
  if (!holder) return undefined;
  const holderInFile = config.studies.find((s) => s.id === holder.study.id)?.sites.some((s) => s.site === site.site);
  if (holderInFile) return undefined;
  return `code ${code} at site ${site.site} is already used by study ${holder.study.id} (in the database)`;
}

/** The ids that name no study (the file's studies are in the transaction already). */
async function unknownStudies(em: EntityManager, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  await em.flush();
  const found = new Set((await em.find(Study, { id: { $in: ids } })).map((study) => study.id));
  return ids.filter((id) => !found.has(id));
}

async function applyUser(em: EntityManager, user: UserConfig): Promise<EntityChange> {
  const wanted = { email: user.email ?? null, admin: user.admin, staff: user.staff, digest: user.digest };
  const studies = [...new Set(user.studies ?? [])].sort();
  const existing = await em.findOne(User, { name: user.name }, { populate: ['studies'] });
  if (!existing) {
    em.create(User, { name: user.name, ...wanted, studies });
    return created('user', `"${user.name}"`);
  }
  const fields = reconcile(existing, wanted);
  const had = existing.studies.getIdentifiers<string>().sort();
  if (had.join() !== studies.join()) {
    existing.studies.set(studies.map((id) => em.getReference(Study, id)));
    fields.push('studies');
  }
  return outcome('user', `"${user.name}"`, fields);
}

/** Keys of RedcapConfig as the file writes them. */
const REDCAP_KEYS: Partial<Record<keyof RedcapConfig, string>> = {
  sessionField: 'fields.session',
  dateField: 'fields.date',
  commentField: 'fields.comment',
  userField: 'fields.user',
  completedField: 'fields.completed',
  completedValue: 'fields.completedValue',
};

async function applyRedcapConfig(em: EntityManager, redcap: RedcapProjectConfig): Promise<EntityChange> {
  const name = `project ${redcap.project} instrument ${redcap.instrument} at ${redcap.url}`;
  const key = { url: redcap.url, project: redcap.project, instrument: redcap.instrument };
  const wanted = {
    version: redcap.version,
    token: redcap.token,
    sessionField: redcap.fields.session,
    dateField: redcap.fields.date,
    commentField: redcap.fields.comment,
    userField: redcap.fields.user ?? null,
    completedField: redcap.fields.completed,
    completedValue: redcap.fields.completedValue,
  };
  const existing = await em.findOne(RedcapConfig, key);
  if (!existing) {
    em.create(RedcapConfig, { ...key, ...wanted });
    return created('REDCap config', name);
  }
  return outcome('REDCap config', name, reconcile(existing, wanted, REDCAP_KEYS));
}

/**
 * XNAT servers by url, their projects by (server, project id). Every project's study and site must exist (in the
 * file, applied above, or in the database), and a study at a site has one XNAT project: a study site that another
 * project holds is refused, unless the file moves that project elsewhere (projects that exist are applied first).
 */
async function applyXnat(
  em: EntityManager,
  servers: XnatServerConfig[],
  problem: (path: ConfigPath, message: string) => ConfigProblem,
  file: string | undefined,
): Promise<EntityChange[]> {
  if (servers.length === 0) return [];
  await em.flush(); // the studies and sites above, for the lookups below
  const changes: EntityChange[] = [];
  const problems: ConfigProblem[] = [];
  const wanted: Array<{ config: XnatConfig; project: string; studySite: StudySite; path: ConfigPath }> = [];
  for (const [i, server] of servers.entries()) {
    const values = { user: server.user, password: server.password, timezone: server.timezone ?? null };
    let config = await em.findOne(XnatConfig, { url: server.url });
    if (!config) {
      config = em.create(XnatConfig, { url: server.url, ...values });
      changes.push(created('XNAT server', server.url));
    } else changes.push(outcome('XNAT server', server.url, reconcile(config, values)));
    for (const [j, entry] of server.projects.entries()) {
      const path = ['xnat', i, 'projects', j];
      const studySite = await em.findOne(StudySite, { study: entry.study, site: entry.site });
      if (studySite) wanted.push({ config, project: entry.project, studySite, path });
      else if (await em.findOne(Study, entry.study))
        problems.push(
          problem([...path, 'site'], `study ${entry.study} has no site ${entry.site} (in this file or the database)`),
        );
      else problems.push(problem([...path, 'study'], `no study ${entry.study} (in this file or the database)`));
    }
  }
  if (problems.length > 0) throw new LabConfigError(problems, file);
  await em.flush();

  const rows = new Map<(typeof wanted)[number], XnatProject | null>();
  for (const entry of wanted)
    rows.set(entry, await em.findOne(XnatProject, { config: entry.config, project: entry.project }));
  const ordered = [...wanted].sort((a, b) => Number(!rows.get(a)) - Number(!rows.get(b)));
  for (const entry of ordered) {
    const existing = rows.get(entry) ?? null;
    const name = `${entry.project} at ${entry.config.url}`;
    const holder = await em.findOne(XnatProject, { studySite: entry.studySite, id: { $ne: existing?.id ?? 0 } });
    if (holder) {
      const where = `${entry.studySite.study.id} at ${entry.studySite.site.id}`;
      throw new LabConfigError(
        [
          problem(
            [...entry.path, 'site'],
            `${where} already has XNAT project ${holder.project} (in the database); a study at a site has one XNAT project`,
          ),
        ],
        file,
      );
    }
    if (!existing) {
      em.create(XnatProject, { config: entry.config, project: entry.project, studySite: entry.studySite });
      changes.push(created('XNAT project', name));
    } else {
      changes.push(
        outcome('XNAT project', name, reconcile(existing, { studySite: entry.studySite }, { studySite: 'study/site' })),
      );
    }
    await em.flush();
  }
  return changes;
}

/** Sets each wanted value that differs; returns the names of those that did (null and absent are equal). */
function reconcile<T extends object>(
  entity: T,
  wanted: Partial<T>,
  names: Partial<Record<keyof T, string>> = {},
): string[] {
  const changed: string[] = [];
  // Lists (a user's studies) compare by their items.
  const same = (a: unknown, b: unknown) =>
    Array.isArray(a) || Array.isArray(b) ? JSON.stringify(a) === JSON.stringify(b) : a === b;
  for (const key of Object.keys(wanted) as Array<keyof T>) {
    const want = wanted[key] ?? null;
    if (!same(entity[key] ?? null, want)) {
      entity[key] = want as T[keyof T];
      changed.push(names[key] ?? String(key));
    }
  }
  return changed;
}

function created(kind: EntityKind, name: string): EntityChange {
  return { kind, name, action: 'created', fields: [] };
}

function outcome(kind: EntityKind, name: string, fields: string[]): EntityChange {
  return { kind, name, action: fields.length > 0 ? 'updated' : 'unchanged', fields };
}
