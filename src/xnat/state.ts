/**
 * A session's state in XNAT (contract "XNAT"): archived (since when, with how many scans), in the prearchive (since
 * when), absent, or unreachable (why). readXnatState asks XNAT, archive first; it never throws for XNAT (down, slow,
 * refusing the login, answering what its API does not document): that is `unreachable` with the reason.
 * checkSessionXnat does it for a session of the database: finds its study site's XNAT project, asks, and records
 * the answer on the session (session_xnat), where GET /sessions/:id shows it.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { SessionXnat, type XnatConfig, type XnatProject, type XnatStateName } from '../db/xnat';
import { parseSessionId } from '../sessions/ids';
import type { XnatClient, XnatEndpoint, XnatExperiment } from './client';
import { labelNamesSession, labelPatterns } from './labels';
import { parseXnatTime, serviceTimeZone } from './time';

export interface XnatState {
  state: XnatStateName;
  /** archived: when XNAT archived the session; prearchive: when it reached the prearchive (ISO). */
  since?: string;
  /** archived: its scans in XNAT. */
  scans?: number;
  /** When XNAT was asked (ISO). */
  checkedAt: string;
  /** unreachable: why; archived without `scans`: why they could not be read. */
  reason?: string;
}

/** Where a study site's sessions are in XNAT: the server, the account, its zone, the project. */
export interface XnatTarget {
  configId: number;
  /** xnat_project.id */
  projectId: number;
  endpoint: XnatEndpoint;
  project: string;
  timeZone: string;
}

type TargetConfig = Pick<XnatConfig, 'id' | 'url' | 'user' | 'password' | 'timezone'>;

function targetOf(project: Pick<XnatProject, 'id' | 'project'>, config: TargetConfig): XnatTarget {
  return {
    configId: config.id,
    projectId: project.id,
    endpoint: { url: config.url, user: config.user, password: config.password },
    project: project.project,
    timeZone: config.timezone ?? serviceTimeZone(),
  };
}

/** The target of an xnat_project row loaded with its config. */
export function xnatTargetOf(row: XnatProject & { config: XnatConfig }): XnatTarget {
  return targetOf(row, row.config);
}

/** One statement, as the monitors' scan check is (src/sessions/scan-check.ts): it runs at every check. */
const TARGET_SQL = `
  select p.id as project_id, p.project, c.id as config_id, c.url, c."user", c.password, c.timezone
  from study_site s
    join xnat_project p on p.study_site_id = s.id
    join xnat_config c on c.id = p.config_id
  where s.code = ? and s.site_id = ?`;

/** The XNAT project of a session's study site (found by the id's study code and site), or null when it has none. */
export async function xnatTargetOfSession(em: EntityManager, sessionId: string): Promise<XnatTarget | null> {
  const name = parseSessionId(sessionId);
  type Row = { project_id: number; project: string; config_id: number } & Omit<TargetConfig, 'id'>;
  const [row] = await em.getConnection().execute<Row[]>(TARGET_SQL, [name.study, name.site]);
  return row ? targetOf({ id: row.project_id, project: row.project }, { id: row.config_id, ...row }) : null;
}

/** What XNAT has for the session: its archived experiments (exactly labelled), else its prearchive entries. */
export async function readXnatState(
  client: XnatClient,
  target: XnatTarget,
  sessionId: string,
  now: Date = new Date(),
): Promise<XnatState & { experiment?: string }> {
  const checkedAt = now.toISOString();
  const name = parseSessionId(sessionId);
  const labelled = (experiments: XnatExperiment[]) =>
    experiments.filter((experiment) => labelNamesSession(experiment.label, name.sessionId));
  const earliest = (times: Array<string | undefined>) =>
    times
      .map((time) => parseXnatTime(time, target.timeZone))
      .filter((time): time is Date => time !== undefined)
      .sort((a, b) => a.getTime() - b.getTime())[0]
      ?.toISOString();
  try {
    const { endpoint, project } = target;
    let archived = labelled(await client.experimentsLabelled(endpoint, project, labelPatterns(name)));
    // XNAT filters on an experiment's label in its own project: one shared into this project under our label is
    // found by the label of its share.
    if (archived.length === 0) {
      archived = labelled(await client.experimentsLabelled(endpoint, project, labelPatterns(name), { shared: true }));
    }
    archived = [...new Map(archived.map((experiment) => [experiment.id, experiment])).values()];
    if (archived.length > 0) {
      const since = earliest(archived.map((experiment) => experiment.insertDate));
      const state = { state: 'archived' as const, ...(since ? { since } : {}), checkedAt, experiment: archived[0].id };
      try {
        let scans = 0;
        for (const experiment of archived) scans += (await client.listScans(endpoint, experiment.id)).length;
        return { ...state, scans };
      } catch (err) {
        return { ...state, reason: `its scans could not be read: ${reasonOf(err)}` };
      }
    }
    const waiting = (await client.listPrearchive(endpoint, project)).filter((entry) =>
      labelNamesSession(entry.name, name.sessionId),
    );
    if (waiting.length > 0) {
      const since = earliest(waiting.map((entry) => entry.uploaded ?? entry.lastmod));
      return { state: 'prearchive', ...(since ? { since } : {}), checkedAt };
    }
    return { state: 'absent', checkedAt };
  } catch (err) {
    return { state: 'unreachable', checkedAt, reason: reasonOf(err) };
  }
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Records what XNAT said about a session (replacing what it said before), in one statement. */
export async function recordXnatState(
  em: EntityManager,
  sessionId: string,
  state: XnatState & { experiment?: string },
): Promise<void> {
  await em.getConnection().execute(
    `insert into session_xnat (session_id, state, since, scans, checked_at, reason, experiment) values (?, ?, ?, ?, ?, ?, ?)
       on conflict (session_id) do update set state = excluded.state, since = excluded.since, scans = excluded.scans,
         checked_at = excluded.checked_at, reason = excluded.reason, experiment = excluded.experiment`,
    [
      sessionId,
      state.state,
      state.since ? new Date(state.since) : null,
      state.scans ?? null,
      new Date(state.checkedAt),
      state.reason ?? null,
      state.experiment ?? null,
    ],
  );
}

/** What XNAT last said about a session; null when it was never asked. */
export async function xnatStateOf(em: EntityManager, sessionId: string): Promise<XnatState | null> {
  const row = await em.findOne(SessionXnat, { session: sessionId });
  if (!row) return null;
  return {
    state: row.state,
    ...(row.since ? { since: new Date(row.since).toISOString() } : {}),
    ...(row.scans !== null && row.scans !== undefined ? { scans: row.scans } : {}),
    checkedAt: new Date(row.checkedAt).toISOString(),
    ...(row.reason ? { reason: row.reason } : {}),
  };
}

/**
 * The check the monitors make: for a session whose study site has an XNAT project, ask XNAT and record the answer
 * on the session; null (nothing asked, nothing recorded) when the study site has no XNAT project. Throws only for
 * the database and for a session id that fits no convention, never for XNAT.
 */
export async function checkSessionXnat(
  em: EntityManager,
  client: XnatClient,
  sessionId: string,
  now: Date = new Date(),
): Promise<XnatState | null> {
  const id = parseSessionId(sessionId).sessionId;
  const target = await xnatTargetOfSession(em, id);
  if (!target) return null;
  const { experiment, ...state } = await readXnatState(client, target, id, now);
  await recordXnatState(em, id, { ...state, experiment });
  return state;
}
