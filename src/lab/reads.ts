/**
 * What the lab's pages read from the database, beyond the session view (src/sessions/view.ts): the studies a
 * viewer sees, each site's latest record and scan, records and scans per week, the REDCap configs of a study, the
 * emails sent about a session.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { SentEmail } from '../db/sent-email';
import { Study } from '../db/entities';
import { ofStudyConfig } from '../lab-data/outstanding';

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
  const rows: Array<{ study_id: string; n: string }> = await em
    .getConnection()
    .execute(`select s.study_id, count(*) as n from session s where s.study_id in (?) group by s.study_id`, [
      studies.map((study) => study.id),
    ]);
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

/**
 * Per site of the study: the latest record is the site's newest session (by scan date) with one, read backwards
 * along session_study_site_index; the latest scan is the one at the site's `last_scan_at` (kept by the state's
 * refresh), found by its time in scan's (created_at, id) index.
 */
export async function siteActivity(em: EntityManager, studyId: string): Promise<SiteActivity[]> {
  const rows: Array<{
    site_id: string;
    uses_redcap: boolean;
    record_session: string | null;
    record_date: string | null;
    scan_session: string | null;
    scan_at: Date | null;
  }> = await em.getConnection().execute(
    `select ss.site_id, ss.uses_redcap, lr.id as record_session, lr.date::text as record_date,
            ls.session_id as scan_session, ls.created_at as scan_at
     from study_site ss
     left join lateral (
       select s.id, s.date from session s
       where s.study_id = ss.study_id and s.site_id = ss.site_id and s.date is not null and s.has_record
       order by s.date desc, s.id desc limit 1
     ) lr on ss.uses_redcap
     left join lateral (
       select c.session_id, c.created_at from scan c join session s on s.id = c.session_id
       where c.created_at = ss.last_scan_at and s.study_id = ss.study_id and s.site_id = ss.site_id
       order by c.id desc limit 1
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

/**
 * The last `weeks` weeks up to today, every week present (zeros where nothing happened). One index-only scan of
 * session_study_site_index, counted per day (cheaper than a week expression per row) and summed into weeks here.
 */
export async function weeklyCounts(
  em: EntityManager,
  studyId: string,
  sites: string[],
  weeks: number,
  today = new Date(),
): Promise<WeekCount[]> {
  const mondays = lastMondays(today, weeks);
  if (sites.length === 0) return [];
  const rows: Array<{ site_id: string; date: string; records: string; scans: string }> = await em
    .getConnection()
    .execute(
      `select s.site_id, s.date::text as date,
              count(*) filter (where s.has_record) as records, count(*) filter (where s.has_scans) as scans
       from session s
       where s.study_id = ? and s.site_id in (?) and s.date >= ?::date
       group by s.site_id, s.date`,
      [studyId, sites, mondays[0]],
    );
  const found = new Map<string, { records: number; scans: number }>();
  for (const row of rows) {
    const key = `${row.site_id} ${mondayOf(row.date)}`;
    const sum = found.get(key) ?? { records: 0, scans: 0 };
    sum.records += Number(row.records);
    sum.scans += Number(row.scans);
    found.set(key, sum);
  }
  return sites.flatMap((siteId) =>
    mondays.map((week) => ({ siteId, week, records: 0, scans: 0, ...found.get(`${siteId} ${week}`) })),
  );
}

/** The Monday (YYYY-MM-DD) of a day's week. */
export function mondayOf(day: string): string {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7));
  return date.toISOString().slice(0, 10);
}

/** The Mondays (UTC, YYYY-MM-DD) of the last `weeks` weeks, oldest first, this week's last. */
export function lastMondays(today: Date, weeks: number): string[] {
  const monday = new Date(mondayOf(today.toISOString().slice(0, 10)));
  return Array.from({ length: weeks }, (_, i) => {
    const day = new Date(monday);
    day.setUTCDate(day.getUTCDate() - 7 * (weeks - 1 - i));
    return day.toISOString().slice(0, 10);
  });
}

/** A REDCap project's config, as the pull form offers it. */
export interface RedcapConfigChoice {
  id: number;
  url: string;
  project: number;
  instrument: string;
}

/** The REDCap configs whose records file to the study (as its outstanding work counts them: those filing nothing too). */
export async function studyRedcapConfigs(em: EntityManager, studyId: string): Promise<RedcapConfigChoice[]> {
  return em.execute<RedcapConfigChoice[]>(
    `select c.id, c.url, c.project, c.instrument from redcap_config c where ${ofStudyConfig('c.id')} order by c.id`,
    [studyId],
  );
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
