/**
 * The lab config file (`config apply`), as docs/config.md describes it. Strict: an unknown key is an
 * error. Values are normalized here (ids upper case, REDCap URLs ending in '/', defaults filled in), so
 * what comes out is exactly what the database should hold.
 */
import { z } from 'zod';
import { toMillis } from '../config';
import { formatPath } from './problems';
import { normalizeRedcapUrl } from '../redcap/urls';

/** Study ids, study codes and sites are parts of session ids: letters and digits, stored upper case. */
const sessionIdPart = (what: string) =>
  z
    .string()
    .trim()
    .min(1, `${what} must not be empty`)
    .max(32, `${what} must be at most 32 characters`)
    .regex(/^[A-Za-z0-9]+$/, `${what} must be letters and digits only (it is part of session ids)`)
    .transform((value) => value.toUpperCase());

const text = (what: string) => z.string().trim().min(1, `${what} must not be empty`);

/** A job script run from SUBMIT_SCRIPTS: a relative path that stays inside it. */
const scriptName = z
  .string()
  .trim()
  .min(1, 'script must not be empty')
  .refine((value) => !value.startsWith('/') && !value.split('/').includes('..'), {
    message: 'script must be a path inside SUBMIT_SCRIPTS (no leading "/", no "..")',
  });

/** A server's base URL (REDCap, XNAT): http(s), without query or fragment; stored ending with '/'. */
const serverUrl = z
  .string()
  .trim()
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${value}" is not a URL` });
      return;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an http or https URL' });
    } else if (url.search || url.hash) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be the server base URL, without "?" or "#"' });
    }
  })
  .transform(normalizeRedcapUrl);

/** A REDCap project id; `"1234"` is accepted too, so it can come from `${VAR}`. */
const NOT_A_PROJECT_ID = 'must be a REDCap project id (a whole number)';
const projectId = z
  .union([z.number(), z.string().trim().regex(/^\d+$/, NOT_A_PROJECT_ID)], {
    errorMap: () => ({ message: NOT_A_PROJECT_ID }),
  })
  .transform(Number)
  .pipe(z.number().int('must be a whole number').positive('must be a positive number'));

const siteSchema = z
  .object({
    site: sessionIdPart('site'),
    code: sessionIdPart('code').optional(),
    usesRedcap: z.boolean().default(false),
    downloadScript: scriptName.nullish(),
    postDownloadScript: scriptName.nullish(),
    /** No upload for this long is outstanding (a quiet site), e.g. `14 days`; as whole seconds. */
    quietAfter: z
      .string({ invalid_type_error: 'must be a duration such as "14 days" (quote it)' })
      .trim()
      .transform(toMillis)
      .transform((ms) => Math.ceil(ms / 1000))
      .pipe(z.number().max(2_147_483_647, 'must be shorter than 68 years'))
      .nullish(),
  })
  .strict();

const studySchema = z
  .object({
    id: sessionIdPart('id'),
    name: text('name'),
    sites: z.array(siteSchema).default([]),
  })
  .strict();

const userSchema = z
  .object({
    name: text('name'),
    email: z.string().trim().email('must be an email address').nullish(),
    admin: z.boolean().default(false),
    /** May look at the lab's pages (admins may also act). */
    staff: z.boolean().default(false),
    /** Gets the daily digest of the studies the user sees (admins always get it). */
    digest: z.boolean().default(false),
    /** The studies this user sees on the lab's pages and gets the digest of; absent: all of them. */
    studies: z.array(sessionIdPart('study id')).min(1, 'list at least one study, or leave studies out').optional(),
  })
  .strict();

const fieldsSchema = z
  .object({
    session: text('field name'),
    date: text('field name'),
    comment: text('field name'),
    user: text('field name').nullish(),
    completed: text('field name'),
    /** REDCap's "Complete?" codes are numbers; `2` and `"2"` mean the same. */
    completedValue: z.union([z.string().trim().min(1, 'must not be empty'), z.number().int().transform(String)], {
      errorMap: () => ({ message: 'must be the completion code, e.g. "2"' }),
    }),
  })
  .strict();

const redcapSchema = z
  .object({
    url: serverUrl,
    project: projectId,
    instrument: text('instrument'),
    version: z
      .string({ invalid_type_error: 'must be a string such as "14.5.2" (quote it)' })
      .trim()
      .regex(/^\d+(\.\d+)*$/, 'must be a REDCap version such as 14.5.2'),
    token: z.string({ invalid_type_error: 'must be a string' }).trim().min(1, 'must not be empty'),
    fields: fieldsSchema,
  })
  .strict();

/** An IANA time zone name that this Node.js knows, e.g. America/Toronto. */
const timeZone = z
  .string()
  .trim()
  .refine(isTimeZone, { message: 'must be a time zone name such as America/Toronto or UTC' });

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const xnatProjectSchema = z
  .object({
    /** XNAT project ids are letters, digits, '_' and '-' (XNAT's own rule for an ID). */
    project: z
      .string({ invalid_type_error: 'must be an XNAT project id (quote it if it looks like a number)' })
      .trim()
      .min(1, 'project must not be empty')
      .max(64, 'project must be at most 64 characters')
      .regex(/^[A-Za-z0-9_-]+$/, 'project must be an XNAT project id: letters, digits, "_" and "-"'),
    study: sessionIdPart('study'),
    site: sessionIdPart('site'),
  })
  .strict();

const xnatSchema = z
  .object({
    url: serverUrl,
    user: z.string({ invalid_type_error: 'must be a string' }).trim().min(1, 'must not be empty'),
    password: z.string({ invalid_type_error: 'must be a string' }).min(1, 'must not be empty'),
    timezone: timeZone.nullish(),
    projects: z.array(xnatProjectSchema).default([]),
  })
  .strict();

export const labConfigSchema = z
  .object({
    studies: z.array(studySchema).default([]),
    users: z.array(userSchema).default([]),
    redcap: z.array(redcapSchema).default([]),
    xnat: z.array(xnatSchema).default([]),
  })
  .strict()
  .superRefine((config, ctx) => {
    const duplicate = (path: Array<string | number>, message: string) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
    const seen = new Map<string, string>();
    const once = (key: string, path: Array<string | number>, message: string) => {
      if (seen.has(key)) duplicate(path, `${message} (also at ${seen.get(key)})`);
      else seen.set(key, formatPath(path.slice(0, -1)));
    };
    config.studies.forEach((study, i) => {
      once(`study:${study.id}`, ['studies', i, 'id'], `study ${study.id} is listed twice`);
      study.sites.forEach((site, j) => {
        once(
          `study-site:${study.id}:${site.site}`,
          ['studies', i, 'sites', j, 'site'],
          `site ${site.site} is listed twice for study ${study.id}`,
        );
      });
    });
    const codes = new Map<string, string>();
    config.studies.forEach((study, i) =>
      study.sites.forEach((site, j) => {
        const key = `${site.code ?? study.id}@${site.site}`;
        const owner = codes.get(key);
        if (owner && owner !== study.id) {
          duplicate(
            ['studies', i, 'sites', j, 'code'],
            `code ${site.code ?? study.id} at site ${site.site} is already used by study ${owner}`,
          );
        } else codes.set(key, study.id);
      }),
    );
    config.users.forEach((user, i) => {
      once(`user:${user.name}`, ['users', i, 'name'], `user "${user.name}" is listed twice`);
      if (user.email)
        once(`email:${user.email.toLowerCase()}`, ['users', i, 'email'], `email ${user.email} is listed twice`);
    });
    config.redcap.forEach((redcap, i) =>
      once(
        `redcap:${redcap.url}:${redcap.project}:${redcap.instrument}`,
        ['redcap', i, 'instrument'],
        `REDCap project ${redcap.project} instrument ${redcap.instrument} at ${redcap.url} is listed twice`,
      ),
    );
    config.xnat.forEach((xnat, i) => {
      once(`xnat:${xnat.url}`, ['xnat', i, 'url'], `XNAT ${xnat.url} is listed twice`);
      xnat.projects.forEach((project, j) => {
        const path = ['xnat', i, 'projects', j];
        once(
          `xnat-project:${xnat.url}:${project.project}`,
          [...path, 'project'],
          `XNAT project ${project.project} is listed twice`,
        );
        once(
          `xnat-study-site:${project.study}:${project.site}`,
          [...path, 'site'],
          `${project.study} at ${project.site} is given two XNAT projects (a study at a site has one)`,
        );
      });
    });
  });

/** The file as written (before defaults and normalization). */
export type LabConfigInput = z.input<typeof labConfigSchema>;
/** The file as the database should hold it. */
export type LabConfig = z.output<typeof labConfigSchema>;
export type StudyConfig = LabConfig['studies'][number];
export type StudySiteConfig = StudyConfig['sites'][number];
export type UserConfig = LabConfig['users'][number];
export type RedcapProjectConfig = LabConfig['redcap'][number];
export type XnatServerConfig = LabConfig['xnat'][number];
