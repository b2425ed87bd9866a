/**
 * REDCap's Data Entry Trigger (DET): the form REDCap POSTs to us when a record is saved. Pure code.
 * REDCap sends `redcap_url`, `project_url`, `project_id`, `record`, `instrument`, `username`,
 * `<instrument>_complete`, and for longitudinal projects `redcap_event_name` (plus the data access group).
 */
import { z } from 'zod';
import { BadRequestError } from '../errors';

export const REQUIRED_DET_KEYS = ['record', 'project_id', 'redcap_url', 'instrument', 'project_url'] as const;

export interface DataEntryTrigger {
  record: string;
  projectId: number;
  /** The REDCap base URL with a trailing slash, e.g. https://redcap.example.org/ */
  redcapUrl: string;
  instrument: string;
  projectUrl: string;
  /** Unique event name in longitudinal projects, e.g. month_6_arm_1; undefined in classic projects. */
  eventName?: string;
  username?: string;
  /** Every key of the form as sent (values as strings), for the completion check. */
  fields: Record<string, string>;
}

const text = z.string().trim().min(1);

const schema = z.object({
  record: text.max(200),
  project_id: z.string().trim().regex(/^\d+$/, 'must be a whole number').transform(Number),
  redcap_url: text.url().refine((value) => /^https?:\/\//i.test(value), 'must be an http(s) URL').transform(normalizeRedcapUrl),
  instrument: text.max(200),
  project_url: text,
  redcap_event_name: z.string().trim().optional(),
  username: z.string().trim().optional(),
});

/** The form of REDCap URLs we store and compare: no surrounding space, exactly one trailing slash. */
export function normalizeRedcapUrl(url: string): string {
  return `${url.trim().replace(/\/+$/, '')}/`;
}

/** Turns a parsed body (form or JSON) into flat string fields; nested values and arrays are dropped. */
export function flattenFields(body: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      if (typeof value === 'string') fields[key] = value;
      else if (typeof value === 'number' || typeof value === 'boolean') fields[key] = String(value);
    }
  }
  return fields;
}

/**
 * Validates a DET. Missing keys → 400 listing the keys found (never their values: they may be data);
 * a malformed value → 400 naming the key.
 */
export function parseDataEntryTrigger(fields: Record<string, string>): DataEntryTrigger {
  const keysFound = Object.keys(fields).sort();
  const missing = REQUIRED_DET_KEYS.filter((key) => fields[key] === undefined || fields[key].trim() === '');
  if (missing.length > 0) {
    throw new BadRequestError(
      `Not a REDCap Data Entry Trigger: missing ${missing.join(', ')} (expected ${REQUIRED_DET_KEYS.join(', ')} as application/x-www-form-urlencoded)`,
      { missing, keysFound },
    );
  }
  const parsed = schema.safeParse(fields);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new BadRequestError(`Invalid REDCap Data Entry Trigger: ${problems.join('; ')}`, {
      invalid: parsed.error.issues.map((issue) => issue.path.join('.')),
      keysFound,
    });
  }
  const d = parsed.data;
  return {
    record: d.record,
    projectId: d.project_id,
    redcapUrl: d.redcap_url,
    instrument: d.instrument,
    projectUrl: d.project_url,
    eventName: d.redcap_event_name ? d.redcap_event_name : undefined,
    username: d.username ? d.username : undefined,
    fields,
  };
}

/** Why a trigger whose config is known is not taken, or undefined when the form is complete. */
export function incompleteReason(
  trigger: DataEntryTrigger,
  config: { completedField: string; completedValue: string },
): string | undefined {
  const value = trigger.fields[config.completedField];
  if (value === undefined) {
    return `the form has no ${config.completedField} field (expected "${config.completedValue}")`;
  }
  if (value.trim() !== config.completedValue) {
    return `${config.completedField} is "${value}", not "${config.completedValue}" (the form is not complete)`;
  }
  return undefined;
}
