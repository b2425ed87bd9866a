/**
 * What the lab's pages read from the database, beyond the session view (src/sessions/view.ts): the studies a
 * viewer sees, each site's latest record and scan, records and scans per week, the emails sent about a session.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { SentEmail } from '../db/sent-email';
import { Study } from '../db/entities';

export interface StudySummary {
  id: string;
  name: string;
  sites: string[];
  sessions: number;
}

/** The studies (of `only`, when given), by id, with their sites and how many sessions they have. */
export async function studySummaries(em: EntityManager, only?: string[]): Promise<StudySummary[]> {
  const studies = await em.find(Study, only ? { id: { $in: only } } : {}, {
    populate: ['sites'],
    orderBy: { id: 'asc' },
  });
  if (studies.length === 0) return [];
  const rows: Array<{ study_id: string; n: string }> = await em.getConnection().execute(
    `select st.study_id, count(*) as n from study_timepoint st join session s on s.timepoint_id = st.timepoint_id
       where st.study_id in (?) group by st.study_id`,
    [studies.map((study) => study.id)],
  );
  const sessions = new Map(rows.map((row) => [row.study_id, Number(row.n)]));
  return studies.map((study) => ({
    id: study.id,
    name: study.name,
    sites: study.sites
      .getItems()
      .map((site) => site.site.id)
      .sort(),
    sessions: sessions.get(study.id) ?? 0,
  }));
}

/** A site's latest REDCap record (by its scan date) and latest scan (by its arrival). */
export interface SiteActivity {
  siteId: string;
  usesRedcap: boolean;
  lastRecord: { sessionId: string; date: string } | null;
  lastScan: { sessionId: string; at: Date } | null;
}

export async function siteActivity(em: EntityManager, studyId: string): Promise<SiteActivity[]> {
  const connection = em.getConnection();
  const [sites, records, scans] = await Promise.all([
    connection.execute<Array<{ site_id: string; uses_redcap: boolean }>>(
      `select site_id, uses_redcap from study_site where study_id = ? order by site_id`,
      [studyId],
    ),
    connection.execute<Array<{ site_id: string; session_id: string; date: string }>>(
      `select distinct on (t.site_id) t.site_id, s.id as session_id, to_char(r.entry_date, 'YYYY-MM-DD') as date
       from study_timepoint st join timepoint t on t.id = st.timepoint_id join session s on s.timepoint_id = t.id
       join session_redcap sr on sr.session_id = s.id join redcap_record r on r.id = sr.record_id
       where st.study_id = ? order by t.site_id, r.entry_date desc, r.id desc`,
      [studyId],
    ),
    connection.execute<Array<{ site_id: string; session_id: string; at: Date }>>(
      `select distinct on (t.site_id) t.site_id, s.id as session_id, c.created_at as at
       from study_timepoint st join timepoint t on t.id = st.timepoint_id join session s on s.timepoint_id = t.id
       join scan c on c.session_id = s.id
       where st.study_id = ? order by t.site_id, c.created_at desc, c.id desc`,
      [studyId],
    ),
  ]);
  const recordOf = new Map(records.map((row) => [row.site_id, row]));
  const scanOf = new Map(scans.map((row) => [row.site_id, row]));
  return sites.map(({ site_id, uses_redcap }) => {
    const record = recordOf.get(site_id);
    const scan = scanOf.get(site_id);
    return {
      siteId: site_id,
      usesRedcap: uses_redcap,
      lastRecord: record ? { sessionId: record.session_id, date: record.date } : null,
      lastScan: scan ? { sessionId: scan.session_id, at: new Date(scan.at) } : null,
    };
  });
}

/** Per site and week (Monday, YYYY-MM-DD) of the scan date: sessions with a REDCap record, and with scans. */
export interface WeekCount {
  siteId: string;
  week: string;
  records: number;
  scans: number;
}

/** The last `weeks` weeks up to today, every week present (zeros where nothing happened). */
export async function weeklyCounts(
  em: EntityManager,
  studyId: string,
  sites: string[],
  weeks: number,
  today = new Date(),
): Promise<WeekCount[]> {
  const mondays = lastMondays(today, weeks);
  const rows: Array<{ site_id: string; week: string; records: string; scans: string }> = await em
    .getConnection()
    .execute(
      `select t.site_id, to_char(date_trunc('week', s.date::timestamp), 'YYYY-MM-DD') as week,
              count(*) filter (where exists (select 1 from session_redcap sr where sr.session_id = s.id and sr.record_id is not null)) as records,
              count(*) filter (where exists (select 1 from scan c where c.session_id = s.id)) as scans
       from study_timepoint st join timepoint t on t.id = st.timepoint_id join session s on s.timepoint_id = t.id
       where st.study_id = ? and s.date >= ?::date
       group by 1, 2`,
      [studyId, mondays[0]],
    );
  const found = new Map(rows.map((row) => [`${row.site_id} ${row.week}`, row]));
  return sites.flatMap((siteId) =>
    mondays.map((week) => {
      const row = found.get(`${siteId} ${week}`);
      return { siteId, week, records: Number(row?.records ?? 0), scans: Number(row?.scans ?? 0) };
    }),
  );
}

/** The Mondays (UTC, YYYY-MM-DD) of the last `weeks` weeks, oldest first, this week's last. */
export function lastMondays(today: Date, weeks: number): string[] {
  const monday = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()));
  monday.setUTCDate(monday.getUTCDate() - ((monday.getUTCDay() + 6) % 7));
  return Array.from({ length: weeks }, (_, i) => {
    const day = new Date(monday);
    day.setUTCDate(day.getUTCDate() - 7 * (weeks - 1 - i));
    return day.toISOString().slice(0, 10);
  });
}

export interface EmailSent {
  kind: string;
  subject: string;
  recipients: string[];
  status: string;
  /** When the SMTP server took it (status `sent`), else when it was claimed. */
  at: Date;
}

/** The emails about a session, from the ledger the monitors write (src/db/sent-email.ts), newest first. */
export async function emailsAbout(em: EntityManager, sessionId: string): Promise<EmailSent[]> {
  const emails = await em.find(SentEmail, { sessionId }, { orderBy: { createdAt: 'desc' } });
  return emails.map((email) => ({
    kind: email.kind,
    subject: email.subject,
    recipients: email.recipients.split(',').filter(Boolean),
    status: email.status,
    at: new Date(email.sentAt ?? email.createdAt),
  }));
}
