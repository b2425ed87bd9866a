/**
 * The list of sessions (GET /sessions, and the lab pages): newest first (by date, those without one last, then by id),
 * filtered by study, site, state and date, a page at a time with an opaque cursor. One indexed query; the state is the
 * one kept on the session (src/lab-data/state.ts), never read from Temporal.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Site, Study } from '../db/entities';
import { SESSION_STATES, type SessionState } from '../db/lab-data';
import { BadRequestError } from '../errors';
import { redcapRecordUrl } from '../redcap/urls';

export const MAX_LIMIT = 500;
export const DEFAULT_LIMIT = 100;

const isoDate = (what: string) =>
  z
    .string()
    .trim()
    .superRefine((value, ctx) => {
      const problem = !/^\d{4}-\d{2}-\d{2}$/.test(value)
        ? `${what} must be a date as YYYY-MM-DD`
        : Number.isNaN(Date.parse(`${value}T00:00:00Z`)) ||
            new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value
          ? `${what} is not a day of the calendar`
          : undefined;
      if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    });

/** A study or site id: letters and digits, as the lab config has them (any case). */
export const idPart = (what: string) =>
  z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9]{1,32}$/, `${what} must be a ${what} id (letters and digits)`)
    .toUpperCase();

/** Where the previous page ended. */
interface Cursor {
  /** The last row's date ('-infinity' when it had none) and id. */
  date: string;
  id: string;
}

export const listQuerySchema = z
  .object({
    study: idPart('study').optional(),
    site: idPart('site').optional(),
    state: z
      .string()
      .trim()
      .transform((value) => value.split(',').map((state) => state.trim()))
      .superRefine((states, ctx) => {
        for (const state of states)
          if (!(SESSION_STATES as readonly string[]).includes(state))
            ctx.addIssue({
              code: z.ZodIssueCode.custom,
              message: `unknown state "${state}" (the states: ${SESSION_STATES.join(', ')})`,
            });
      })
      .transform((states) => states as SessionState[])
      .optional(),
    since: isoDate('since').optional(),
    until: isoDate('until').optional(),
    limit: z
      .string()
      .trim()
      .regex(/^\d+$/, 'limit must be a whole number')
      .transform(Number)
      .pipe(z.number().min(1, 'limit must be at least 1').max(MAX_LIMIT, `limit must be at most ${MAX_LIMIT}`))
      .default(String(DEFAULT_LIMIT)),
    cursor: z
      .string()
      .trim()
      .transform((value, ctx) => {
        const cursor = decodeCursor(value);
        if (!cursor) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'cursor is not one this list gave (use "next" as is)' });
          return z.NEVER;
        }
        return cursor;
      })
      .optional(),
  })
  .strict();

export type ListQuery = z.output<typeof listQuerySchema>;

/** The query string of GET /sessions, validated: a problem is a 400 naming each parameter. */
export function parseListQuery(query: Record<string, string | string[] | undefined>): ListQuery {
  const repeated = Object.entries(query).filter(([, value]) => Array.isArray(value));
  if (repeated.length > 0) {
    throw new BadRequestError(`Give each parameter once: ${repeated.map(([key]) => key).join(', ')} repeated`, {
      repeated: repeated.map(([key]) => key),
    });
  }
  const parsed = listQuerySchema.safeParse(query);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) =>
    issue.code === 'unrecognized_keys'
      ? `unknown parameter ${issue.keys.join(', ')} (the parameters: ${Object.keys(listQuerySchema.shape).join(', ')})`
      : `${issue.path.join('.')}: ${issue.message}`,
  );
  throw new BadRequestError(`Invalid query: ${problems.join('; ')}`, { problems });
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.date, cursor.id])).toString('base64url');
}

function decodeCursor(text: string): Cursor | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [date, id] = value as unknown[];
    if (typeof date !== 'string' || typeof id !== 'string' || id.length === 0 || id.length > 80) return undefined;
    if (date !== '-infinity' && !/^\d{4}-\d{2}-\d{2}$/.test(date)) return undefined;
    return { date, id };
  } catch {
    return undefined;
  }
}

export interface SessionRow {
  sessionId: string;
  studyId: string | null;
  siteId: string | null;
  date: string | null;
  state: SessionState;
  /** When what needs a person began, or null. */
  outstandingSince: string | null;
  /** The REDCap record's data entry page, or null without a record. */
  record: string | null;
  /** Our id of the record: GET /redcap_redirect/:id links to it too. */
  redcapRecordId: number | null;
}

export interface SessionPage {
  sessions: SessionRow[];
  /** The cursor of the next page, or null on the last one. */
  next: string | null;
}

/** The columns RECORD_COLUMNS selects. */
export interface RecordColumns {
  record_id: number | null;
  record: string | null;
  event_name: string | null;
  event_id: number | null;
  repeat_instance: number | null;
  url: string | null;
  version: string | null;
  det_version: string | null;
  project: number | null;
  instrument: string | null;
}

interface Row extends RecordColumns {
  id: string;
  study_id: string | null;
  site_id: string | null;
  date: string | null;
  state: SessionState;
  outstanding_since: Date | null;
}

/** The REDCap columns of a session's record, for its link (joined as `r` and `c`). */
export const RECORD_COLUMNS = `r.id as record_id, r.record, r.event_name, r.event_id, r.repeat_instance,
  c.url, c.version, c.det_version, c.project, c.instrument`;
export const RECORD_JOINS = `left join session_redcap l on l.session_id = s.id
  left join redcap_record r on r.id = l.record_id
  left join redcap_config c on c.id = r.config_id`;

/** The data entry page of the record of a row with RECORD_COLUMNS, or null. */
export function recordLinkOf(row: RecordColumns): string | null {
  if (row.record === null || row.url === null || row.project === null || row.instrument === null) return null;
  return redcapRecordUrl({
    config: {
      url: row.url,
      version: row.version ?? '',
      detVersion: row.det_version,
      project: row.project,
      instrument: row.instrument,
    },
    record: row.record,
    eventId: row.event_id,
    instance: row.repeat_instance,
  });
}

/** One page of the list. An unknown study or site is a 400 naming it. */
export async function listSessions(em: EntityManager, query: ListQuery): Promise<SessionPage> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (condition: string, ...values: unknown[]) => {
    where.push(condition);
    params.push(...values);
  };
  // The expression of the indexes (src/db/entities.ts LIST_ORDER).
  const sortDate = `coalesce(s.date, '-infinity'::date)`;
  if (query.study) add('s.study_id = ?', query.study);
  if (query.site) add('s.site_id = ?', query.site);
  if (query.state) add('s.state in (?)', query.state);
  if (query.since) add(`${sortDate} >= ?::date`, query.since);
  if (query.until) add(`${sortDate} <= ?::date and s.date is not null`, query.until);
  if (query.cursor) add(`(${sortDate}, s.id) < (?::date, ?)`, query.cursor.date, query.cursor.id);
  const limit = query.limit;
  const rows = await em.execute<Row[]>(
    `select s.id, s.study_id, s.site_id, s.date::text as date, s.state, s.outstanding_since, ${RECORD_COLUMNS}
     from session s ${RECORD_JOINS}
     ${where.length > 0 ? `where ${where.join(' and ')}` : ''}
     order by ${sortDate} desc, s.id desc
     limit ?`,
    [...params, limit + 1],
  );
  // An empty page may be an unknown study or site: looked up only then (a page with rows names known ones).
  if (rows.length === 0) {
    if (query.study && !(await em.fork().findOne(Study, query.study)))
      throw new BadRequestError(`Unknown study ${query.study}`, { study: query.study });
    if (query.site && !(await em.fork().findOne(Site, query.site)))
      throw new BadRequestError(`Unknown site ${query.site}`, { site: query.site });
  }
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    sessions: page.map((row) => ({
      sessionId: row.id,
      studyId: row.study_id,
      siteId: row.site_id,
      date: row.date,
      state: row.state,
      outstandingSince: row.outstanding_since ? new Date(row.outstanding_since).toISOString() : null,
      record: recordLinkOf(row),
      redcapRecordId: row.record_id,
    })),
    next: rows.length > limit && last ? encodeCursor({ date: last.date ?? '-infinity', id: last.id }) : null,
  };
}
