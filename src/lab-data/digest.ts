/**
 * What a study's daily digest tells (src/mail/digest.ts writes it), and to whom: the study's outstanding work split
 * into what is new since yesterday and what is still open, the day's missed triggers and the emails the hourly limit
 * held back; its admins and the users with `digest: true`, each only for the studies they see (`studies`).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Study } from '../db/entities';
import type { DigestFacts, DigestItem } from '../mail/digest';
import { redcapDashboardUrl } from '../redcap/urls';
import { ofStudyConfig, studyOutstanding, type OutstandingItem } from './outstanding';

const DAY_MS = 86_400_000;

/** The calendar day of `at` in `timeZone`, as YYYY-MM-DD. */
export function dayIn(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

/** Where a person acts on an item: its session's lab page under PUBLIC_URL, else its REDCap record. */
function linkOf(item: OutstandingItem, publicUrl: string | undefined): string | null {
  if (publicUrl && item.sessionId) return `${publicUrl}/lab/sessions/${encodeURIComponent(item.sessionId)}`;
  if (publicUrl && item.kind === 'quiet-site') return `${publicUrl}/lab/studies/${encodeURIComponent(item.studyId)}`;
  return item.record;
}

interface MissedRow {
  count: number;
  sample: string[];
  found_at: Date;
  url: string;
  version: string;
  det_version: string | null;
  project: number;
  instrument: string;
}

/** The digest of `studyId` for the day of `at`; the study must exist. */
export async function gatherDigest(
  em: EntityManager,
  studyId: string,
  at: Date,
  settings: { timeZone: string; publicUrl?: string },
): Promise<DigestFacts> {
  const study = await em.fork().findOneOrFail(Study, studyId);
  const outstanding = await studyOutstanding(em, studyId, at);
  const yesterday = new Date(at.getTime() - DAY_MS);
  const items = outstanding.items.map((item): DigestItem => {
    const { studyId: _studyId, record: _record, ...told } = item;
    return { ...told, link: linkOf(item, settings.publicUrl) };
  });
  const isNew = (item: DigestItem) => new Date(item.since) > yesterday;

  const missed = await em.execute<MissedRow[]>(
    `select m.count, m.sample, m.found_at, c.url, c.version, c.det_version, c.project, c.instrument
     from missed_triggers m join redcap_config c on c.id = m.redcap_config_id
     where m.found_at > ? and m.found_at <= ? and ${ofStudyConfig('m.redcap_config_id')}
     order by m.found_at`,
    [yesterday, at, studyId],
  );
  const held = await em.execute<Array<{ kind: string; count: number }>>(
    `select h.kind, count(*)::int as count from held_email h
     join redcap_config c on h.scope = 'redcap-config:' || c.id || ':' || h.kind
     where h.held_at > ? and h.held_at <= ? and ${ofStudyConfig('c.id')}
     group by h.kind order by h.kind`,
    [yesterday, at, studyId],
  );
  return {
    studyId,
    studyName: study.name,
    day: dayIn(at, settings.timeZone),
    timeZone: settings.timeZone,
    fresh: items.filter(isNew),
    open: items.filter((item) => !isNew(item)),
    missedTriggers: missed.map((row) => ({
      project: row.project,
      instrument: row.instrument,
      count: row.count,
      sample: row.sample,
      foundAt: new Date(row.found_at).toISOString(),
      link: redcapDashboardUrl({ ...row, detVersion: row.det_version }),
    })),
    held: Object.fromEntries(held.map((row) => [row.kind, row.count])),
    studyLink: settings.publicUrl ? `${settings.publicUrl}/lab/studies/${encodeURIComponent(studyId)}` : null,
  };
}

/** The digest's recipients for a study: admins and `digest: true` users with an email who see it. */
export async function digestRecipients(em: EntityManager, studyId: string): Promise<string[]> {
  const rows = await em.execute<Array<{ email: string }>>(
    `select email from app_user
     where email is not null and email <> '' and (admin or digest)
       and (not exists (select 1 from app_user_study seen where seen.user_id = app_user.id)
            or exists (select 1 from app_user_study seen where seen.user_id = app_user.id and seen.study_id = ?))
     order by name`,
    [studyId],
  );
  return rows.map((row) => row.email);
}
