/**
 * The sync's reading side (contract "XNAT", schedule `xnat-sync:<configId>`): list a project's experiments, keep
 * those added or changed since the last successful sync, turn each label into a session id (src/sessions/ids.ts),
 * file the sessions they name, and report the labels that name none (xnat_label_problem) instead of filing them.
 * It also keeps, per project (so per study site), the latest upload it saw, archived or in the prearchive.
 *
 * One listing of the whole project per run, filtered here: XNAT's own date filters read a value with a "-" as a
 * range, which an ISO date is. The times are XNAT's local ones (src/xnat/time.ts). A run looks back a margin before
 * the last run's start, for archivings that took long to commit and for clocks that disagree; an experiment seen
 * twice is filed once (filing is idempotent).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { SessionRedcap, type StudySite } from '../db/entities';
import { XnatLabelProblem, XnatProject, type XnatConfig } from '../db/xnat';
import type { Logger } from '../logger';
import { xnatLabelProblemsTotal } from '../metrics';
import { createSessions } from '../sessions/domain';
import { parseSessionId } from '../sessions/ids';
import type { XnatClient, XnatExperiment, XnatPrearchiveEntry } from './client';
import { sessionOfLabel } from './labels';
import { xnatTargetOf } from './state';
import { parseXnatTime } from './time';

/** How far before the last run's start a run looks again. */
export const SYNC_MARGIN_MS = 60 * 60_000;

export function experimentTimes(
  experiment: XnatExperiment,
  timeZone: string,
): { insertedAt?: Date; modifiedAt?: Date } {
  return {
    insertedAt: parseXnatTime(experiment.insertDate, timeZone),
    modifiedAt: parseXnatTime(experiment.lastModified, timeZone),
  };
}

/**
 * The experiments added or changed at or after `since` less the margin; every one when `since` is null. One whose
 * times XNAT does not give counts as changed (filing it again changes nothing).
 */
export function changedSince(
  experiments: XnatExperiment[],
  since: Date | null,
  timeZone: string,
  marginMs = SYNC_MARGIN_MS,
): XnatExperiment[] {
  if (since === null) return experiments;
  const from = since.getTime() - marginMs;
  return experiments.filter((experiment) => {
    const { insertedAt, modifiedAt } = experimentTimes(experiment, timeZone);
    const times = [insertedAt, modifiedAt].filter((time) => time !== undefined).map((time) => time.getTime());
    return times.length === 0 || Math.max(...times) >= from;
  });
}

/** What a project holds: the study (by its code in session ids) at the site. */
export interface ProjectHolds {
  project: string;
  studyId: string;
  code: string;
  site: string;
}

export interface LabelledExperiment {
  sessionId: string;
  experiment: XnatExperiment;
}

/** An experiment whose label names no session of its project: what the sync reports instead of filing it. */
export interface LabelProblem {
  experiment: string;
  label: string;
  reason: string;
}

/**
 * The session each experiment's label names. A label that fits no convention, or that names a session of another
 * study or site than the project holds (a typo in the study code, a session uploaded to the wrong project), is a
 * problem, with the label and why.
 */
export function sortLabels(
  experiments: XnatExperiment[],
  holds: ProjectHolds,
): { sessions: LabelledExperiment[]; problems: LabelProblem[] } {
  const sessions: LabelledExperiment[] = [];
  const problems: LabelProblem[] = [];
  for (const experiment of experiments) {
    const found = sessionOfLabel(experiment.label);
    const problem = (reason: string) => problems.push({ experiment: experiment.id, label: experiment.label, reason });
    if ('problem' in found) problem(found.problem);
    else if (found.name.study !== holds.code || found.name.site !== holds.site) {
      problem(
        `label "${experiment.label}" names study code ${found.name.study} at site ${found.name.site}, but XNAT project ` +
          `${holds.project} holds ${holds.studyId} at ${holds.site} (code ${holds.code})`,
      );
    } else sessions.push({ sessionId: found.sessionId, experiment });
  }
  return { sessions, problems };
}

/** The latest upload among the archived experiments (their insert times) and the prearchive's sessions. */
export function latestUpload(
  experiments: XnatExperiment[],
  prearchive: XnatPrearchiveEntry[],
  timeZone: string,
): Date | undefined {
  const times = [
    ...experiments.map((experiment) => parseXnatTime(experiment.insertDate, timeZone)),
    ...prearchive.map((entry) => parseXnatTime(entry.uploaded, timeZone)),
  ].filter((time): time is Date => time !== undefined);
  return times.length === 0 ? undefined : new Date(Math.max(...times.map((time) => time.getTime())));
}

export interface XnatSessionsFiled {
  /** Sessions the experiments name (each once). */
  filed: number;
  /** Those that were not in the database before. */
  newSessions: string[];
  /** Those of a site that uses REDCap with no REDCap record, and not marked as expecting none. */
  withoutRedcapRecord: string[];
}

/**
 * Files the sessions that archived experiments name: each session (with its timepoint) created if needed (dated by
 * the experiment's scan date), and recorded as archived in XNAT since the experiment's insert time
 * (scans are counted by the monitors' check; a session already recorded as archived keeps what it has).
 */
export async function fileXnatSessions(
  em: EntityManager,
  studySite: StudySite,
  sessions: LabelledExperiment[],
  timeZone: string,
  now: Date = new Date(),
): Promise<XnatSessionsFiled> {
  const bySession = new Map<string, XnatExperiment>();
  for (const { sessionId, experiment } of sessions) if (!bySession.has(sessionId)) bySession.set(sessionId, experiment);
  const ids = [...bySession.keys()];
  if (ids.length === 0) return { filed: 0, newSessions: [], withoutRedcapRecord: [] };

  const newSessions = await createSessions(
    em,
    studySite,
    ids.map((id) => {
      const date = bySession.get(id)!.date;
      return { name: parseSessionId(id), date: date && /^\d{4}-\d{2}-\d{2}$/.test(date) ? date : null };
    }),
  );

  // Archived in XNAT since its insert time; a session already recorded as archived keeps what the check found.
  await em.execute(
    `insert into session_xnat (session_id, state, since, checked_at, experiment)
       select session_id, 'archived', since, ?, experiment
       from json_to_recordset(?::json) as x(session_id varchar, since timestamptz, experiment varchar)
     on conflict (session_id) do update set state = 'archived', since = excluded.since, scans = null,
       checked_at = excluded.checked_at, reason = null, experiment = excluded.experiment
       where session_xnat.state <> 'archived'`,
    [
      now,
      JSON.stringify(
        ids.map((id) => {
          const experiment = bySession.get(id)!;
          const since = parseXnatTime(experiment.insertDate, timeZone);
          return { session_id: id, since: since?.toISOString() ?? null, experiment: experiment.id };
        }),
      ),
    ],
  );

  let withoutRedcapRecord: string[] = [];
  if (studySite.usesRedcap) {
    const linked = new Set(
      (await em.find(SessionRedcap, { session: { $in: ids } }, { fields: ['session'] })).map((row) => row.session.id),
    );
    withoutRedcapRecord = ids.filter((id) => !linked.has(id));
  }
  return { filed: ids.length, newSessions, withoutRedcapRecord };
}

/** One project's sync: what a run read and did. Session ids and counts only (it may go into a workflow history). */
export interface XnatProjectSync {
  project: string;
  /** Experiments in the project, and those added or changed since the last run (less the margin). */
  listed: number;
  changed: number;
  filed: number;
  newSessions: string[];
  withoutRedcapRecord: string[];
  /** Changed experiments whose label names no session of the project (kept in xnat_label_problem, logged). */
  labelProblems: number;
  /** The start of this run: the next one reads from there (less the margin). */
  syncedUntil: string;
}

/**
 * A sync of one XNAT project (xnat_project.id): reads XNAT (two requests: the experiments, the prearchive), files
 * the sessions that new or changed experiments name, records the labels that name none, keeps the latest upload,
 * and moves the project's syncedUntil to this run's start. The first run reads back `lookbackMs`. XNAT's errors
 * (XnatError) are thrown before anything is changed.
 */
export async function syncXnatProject(
  em: EntityManager,
  client: XnatClient,
  projectId: number,
  options: { lookbackMs: number; now?: Date; logger?: Logger },
): Promise<XnatProjectSync> {
  const now = options.now ?? new Date();
  const row = (await em.findOneOrFail(XnatProject, projectId, {
    populate: ['config', 'studySite', 'studySite.study', 'studySite.site'],
  })) as XnatProject & { config: XnatConfig };
  const target = xnatTargetOf(row);
  const experiments = await client.listExperiments(target.endpoint, target.project);
  const prearchive = await client.listPrearchive(target.endpoint, target.project);

  const since = row.syncedUntil ? new Date(row.syncedUntil) : new Date(now.getTime() - options.lookbackMs);
  const changed = changedSince(experiments, since, target.timeZone);
  const { studySite } = row;
  const { sessions, problems } = sortLabels(changed, {
    project: row.project,
    studyId: studySite.study.id,
    code: studySite.code,
    site: studySite.site.id,
  });
  const filing = await fileXnatSessions(em, studySite, sessions, target.timeZone, now);
  const newProblems = await recordLabelProblems(em, projectId, problems, sessions, now);
  for (const problem of problems) {
    options.logger?.warn(
      { xnatProject: row.project, experiment: problem.experiment, label: problem.label },
      `XNAT experiment not filed: ${problem.reason}`,
    );
  }
  if (newProblems > 0) xnatLabelProblemsTotal.inc({ project: row.project }, newProblems);

  const upload = latestUpload(experiments, prearchive, target.timeZone);
  await em.nativeUpdate(XnatProject, { id: projectId }, { syncedUntil: now });
  if (upload) {
    await em.nativeUpdate(
      XnatProject,
      { id: projectId, $or: [{ lastUploadAt: null }, { lastUploadAt: { $lt: upload } }] },
      { lastUploadAt: upload },
    );
  }
  return {
    project: row.project,
    listed: experiments.length,
    changed: changed.length,
    ...filing,
    labelProblems: problems.length,
    syncedUntil: now.toISOString(),
  };
}

/** The projects of an XNAT config, for a sync of all of them. */
export async function xnatProjectIdsOf(em: EntityManager, configId: number): Promise<number[]> {
  return (await em.find(XnatProject, { config: configId }, { fields: ['id'], orderBy: { id: 'asc' } })).map(
    (row) => row.id,
  );
}

/** Keeps the problems of this run's labels, and forgets those whose experiment now names a session. Returns how many are new. */
async function recordLabelProblems(
  em: EntityManager,
  projectId: number,
  problems: LabelProblem[],
  sessions: LabelledExperiment[],
  now: Date,
): Promise<number> {
  const fixed = sessions.map(({ experiment }) => experiment.id);
  if (fixed.length > 0) await em.nativeDelete(XnatLabelProblem, { project: projectId, experiment: { $in: fixed } });
  if (problems.length === 0) return 0;
  const seen = new Set(
    (
      await em.find(
        XnatLabelProblem,
        { project: projectId, experiment: { $in: problems.map((p) => p.experiment) } },
        { fields: ['experiment'] },
      )
    ).map((row) => row.experiment),
  );
  await em.upsertMany(
    XnatLabelProblem,
    problems.map((problem) => ({ project: projectId, ...problem, seenAt: now })),
    { onConflictFields: ['project', 'experiment'], onConflictAction: 'merge' },
  );
  return problems.filter((problem) => !seen.has(problem.experiment)).length;
}
