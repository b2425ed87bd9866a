/**
 * What needs a person in a study (GET /studies/:id/outstanding, the lab pages, the daily digest), oldest first:
 * sessions missing their scans (the no-scans email went out), sessions with scans but no REDCap record, problems
 * (failed intakes, session ids that fit no convention) and quiet sites (no upload for their `quietAfter`).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { stringify } from 'csv-stringify/sync';
import { Study } from '../db/entities';
import { NotFoundError } from '../errors';
import { recordName } from '../redcap/names';
import { RECORD_COLUMNS, RECORD_JOINS, recordLinkOf, type RecordColumns } from './list';

export type OutstandingKind = 'missing-scans' | 'no-redcap-record' | 'problem' | 'quiet-site';

export interface OutstandingItem {
  kind: OutstandingKind;
  studyId: string;
  siteId: string | null;
  sessionId: string | null;
  /** The session's scan date. */
  date: string | null;
  /** When it began to need a person. */
  since: string;
  /** Whole days since then. */
  ageDays: number;
  /** The REDCap record as our messages name it (`17`, `331-2 (instance 2)`). */
  recordName: string | null;
  /** Its data entry page on the REDCap server. */
  record: string | null;
  /** Problems: what went wrong. Quiet sites: since when there was no upload. */
  reason: string | null;
}

export interface Outstanding {
  studyId: string;
  /** The time the list is for. */
  at: string;
  counts: Record<OutstandingKind, number>;
  items: OutstandingItem[];
}

/**
 * A REDCap config's problems and finds belong to the studies whose sessions its records were filed to; one that has
 * filed nothing yet, to every study. `column` is the config id column of the row tested; `?` the study id.
 */
export const ofStudyConfig = (column: string) => `(
  ${column} is null
  or exists (select 1 from redcap_record r join session_redcap l on l.record_id = r.id
             join session s on s.id = l.session_id where r.config_id = ${column} and s.study_id = ?)
  or not exists (select 1 from redcap_record r join session_redcap l on l.record_id = r.id where r.config_id = ${column}))`;

const DAY_MS = 86_400_000;

interface SessionRow extends RecordColumns {
  id: string;
  site_id: string | null;
  date: string | null;
  state: 'missing-scans' | 'no-redcap-record';
  outstanding_since: Date;
}

interface ProblemRow extends RecordColumns {
  kind: string;
  site_id: string | null;
  session_id: string | null;
  reason: string;
  first_at: Date;
  date: string | null;
}

interface QuietRow {
  site_id: string;
  quiet_after_seconds: number;
  last_upload_at: Date | null;
  created_at: Date;
}

/** The study's outstanding work at `now`; an unknown study is a NotFoundError (404). */
export async function studyOutstanding(em: EntityManager, studyId: string, now = new Date()): Promise<Outstanding> {
  const study = /^[A-Za-z0-9]{1,32}$/.test(studyId) ? await em.fork().findOne(Study, studyId.toUpperCase()) : null;
  if (!study) throw new NotFoundError(`No study ${studyId}`, { studyId });
  const age = (since: Date) => Math.max(0, Math.floor((now.getTime() - since.getTime()) / DAY_MS));
  const items: OutstandingItem[] = [];

  const sessions = await em.execute<SessionRow[]>(
    `select s.id, s.site_id, s.date::text as date, s.state, s.outstanding_since, ${RECORD_COLUMNS}
     from session s ${RECORD_JOINS}
     where s.study_id = ? and s.outstanding_since is not null and s.state in ('missing-scans', 'no-redcap-record')
     order by s.outstanding_since, s.id`,
    [study.id],
  );
  for (const row of sessions) {
    const since = new Date(row.outstanding_since);
    items.push({
      kind: row.state,
      studyId: study.id,
      siteId: row.site_id,
      sessionId: row.id,
      date: row.date,
      since: since.toISOString(),
      ageDays: age(since),
      recordName: row.record === null ? null : recordName(row.record, row.event_name, row.repeat_instance),
      record: recordLinkOf(row),
      reason: null,
    });
  }

  const problems = await em.execute<ProblemRow[]>(
    `select p.kind, p.site_id, p.session_id, p.reason, p.first_at, ps.date::text as date,
            null as record_id, p.record, p.event_name, null as event_id, p.repeat_instance,
            c.url, c.version, c.det_version, c.project, c.instrument
     from problem p
     left join redcap_config c on c.id = p.redcap_config_id
     left join session ps on ps.id = p.session_id
     where p.resolved_at is null and (p.study_id = ? or (p.study_id is null and ${ofStudyConfig('p.redcap_config_id')}))
     order by p.first_at, p.id`,
    [study.id, study.id],
  );
  for (const row of problems) {
    const since = new Date(row.first_at);
    items.push({
      kind: 'problem',
      studyId: study.id,
      siteId: row.site_id,
      sessionId: row.session_id,
      date: row.date,
      since: since.toISOString(),
      ageDays: age(since),
      recordName: row.record === null ? null : recordName(row.record, row.event_name, row.repeat_instance),
      record: recordLinkOf(row),
      reason: row.reason,
    });
  }

  // A site's last upload: the latest scan registered for it. XNAT's last upload of the site counts too once it is
  // kept: greatest() it in here.
  const quiet = await em.execute<QuietRow[]>(
    `select st.site_id, st.quiet_after_seconds, st.last_scan_at as last_upload_at, st.created_at
     from study_site st where st.study_id = ? and st.quiet_after_seconds is not null order by st.site_id`,
    [study.id],
  );
  for (const row of quiet) {
    const lastUpload = row.last_upload_at ? new Date(row.last_upload_at) : null;
    const since = new Date((lastUpload ?? new Date(row.created_at)).getTime() + row.quiet_after_seconds * 1000);
    if (since.getTime() > now.getTime()) continue;
    items.push({
      kind: 'quiet-site',
      studyId: study.id,
      siteId: row.site_id,
      sessionId: null,
      date: null,
      since: since.toISOString(),
      ageDays: age(since),
      recordName: null,
      record: null,
      reason: lastUpload
        ? `no upload since ${lastUpload.toISOString()}`
        : `no upload since the site was configured (${new Date(row.created_at).toISOString()})`,
    });
  }

  items.sort((a, b) => a.since.localeCompare(b.since));
  const counts: Record<OutstandingKind, number> = {
    'missing-scans': 0,
    'no-redcap-record': 0,
    problem: 0,
    'quiet-site': 0,
  };
  for (const item of items) counts[item.kind] += 1;
  return { studyId: study.id, at: now.toISOString(), counts, items };
}

/** The columns of the CSV, in order (its header row). */
export const OUTSTANDING_COLUMNS: Array<keyof OutstandingItem> = [
  'kind',
  'studyId',
  'siteId',
  'sessionId',
  'date',
  'since',
  'ageDays',
  'recordName',
  'record',
  'reason',
];

/**
 * A cell a spreadsheet would take for a formula (=, +, -, @, or a tab or carriage return first) gets a leading `'`,
 * as OWASP advises against CSV injection: record names and reasons come from REDCap, where anyone may type.
 */
export function neutralizeFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** The outstanding work as CSV (RFC 4180, a header row, every text cell quoted). */
export function outstandingCsv(outstanding: Outstanding): string {
  return stringify(
    outstanding.items.map((item) => OUTSTANDING_COLUMNS.map((column) => item[column])),
    {
      header: true,
      columns: OUTSTANDING_COLUMNS,
      quoted_string: true,
      record_delimiter: 'windows',
      cast: { string: neutralizeFormula },
    },
  );
}
