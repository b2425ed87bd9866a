/**
 * What the lab's pages read from the database, beyond the session view (src/sessions/view.ts): the studies a
 * viewer sees, each site's latest record and scan, records and scans per week, the emails sent about a session.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { SentEmail } from '../db/sent-email';
import { Study } from '../db/entities';

/** A study and its sites; null when there is none of that id. */
export async function findStudy(
  em: EntityManager,
  id: string,
): Promise<{ id: string; name: string; sites: string[] } | null> {
  const study = await em.findOne(Study, id, { populate: ['sites'] });
  return study ? { id: study.id, name: study.name, sites: sitesOf(study) } : null;
}

const sitesOf = (study: Study) =>
  study.sites
    .getItems()
    .map((site) => site.site.id)
    .sort();

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
    sites: sitesOf(study),
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
  // Each latest one walks its index from the newest down to the first of the study's site (no sort of the study).
  const rows: Array<{
    site_id: string;
    uses_redcap: boolean;
    record_session: string | null;
    record_date: string | null;
    scan_session: string | null;
    scan_at: Date | null;
  }> = await em.getConnection().execute(
    `select ss.site_id, ss.uses_redcap, lr.session_id as record_session, to_char(lr.entry_date, 'YYYY-MM-DD') as record_date,
            ls.session_id as scan_session, ls.created_at as scan_at
     from study_site ss
     left join lateral (
       select s.id as session_id, r.entry_date
       from redcap_record r join session_redcap sr on sr.record_id = r.id join session s on s.id = sr.session_id
       join timepoint t on t.id = s.timepoint_id and t.site_id = ss.site_id
       join study_timepoint st on st.timepoint_id = t.id and st.study_id = ss.study_id
       where ss.uses_redcap
       order by r.entry_date desc, r.id desc limit 1
     ) lr on true
     left join lateral (
       select s.id as session_id, c.created_at
       from scan c join session s on s.id = c.session_id
       join timepoint t on t.id = s.timepoint_id and t.site_id = ss.site_id
       join study_timepoint st on st.timepoint_id = t.id and st.study_id = ss.study_id
       order by c.created_at desc, c.id desc limit 1
     ) ls on true
     where ss.study_id = ? order by ss.site_id`,
    [studyId],
  );
  return rows.map((row) => ({
    siteId: row.site_id,
    usesRedcap: row.uses_redcap,
    lastRecord: row.record_session ? { sessionId: row.record_session, date: row.record_date! } : null,
    lastScan: row.scan_session ? { sessionId: row.scan_session, at: new Date(row.scan_at!) } : null,
  }));
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
              count(sr.record_id) as records, count(c.session_id) as scans
       from session s join timepoint t on t.id = s.timepoint_id
       join study_timepoint st on st.timepoint_id = s.timepoint_id and st.study_id = ?
       left join session_redcap sr on sr.session_id = s.id
       left join lateral (select session_id from scan where scan.session_id = s.id limit 1) c on true
       where s.date >= ?::date
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
