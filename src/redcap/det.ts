/**
 * REDCap's Data Entry Trigger (DET): the form REDCap POSTs to us when a record is saved. Pure code.
 * REDCap sends `redcap_url`, `project_url`, `project_id`, `record`, `instrument`, `username`,
 * `<instrument>_complete`, for longitudinal projects `redcap_event_name` (plus the data access group), and for a
 * repeating instrument or event `redcap_repeat_instance` (with `redcap_repeat_instrument` for a repeating instrument).
 */
import { z } from 'zod';
import { BadRequestError } from '../errors';
import { unstorableReason } from '../storable-text';
import { normalizeRedcapUrl, redcapVersionOf } from './urls';

const REQUIRED_DET_KEYS = ['record', 'project_id', 'redcap_url', 'instrument', 'project_url'] as const;

export interface DataEntryTrigger {
  record: string;
  projectId: number;
  /** The REDCap base URL with a trailing slash, e.g. https://redcap.example.org/ */
  redcapUrl: string;
  instrument: string;
  projectUrl: string;
  /** Unique event name in longitudinal projects, e.g. month_6_arm_1; undefined in classic projects. */
  eventName?: string;
  /** The repeat instance (1, 2, …) of a repeating instrument or event; undefined for a form that does not repeat. */
  instance?: number;
  /** The repeating instrument (absent for a repeating event). */
  repeatInstrument?: string;
  /** REDCap's version, from project_url (…/redcap_v14.6.4/…); undefined when project_url carries none. */
  redcapVersion?: string;
  username?: string;
  /** Every key of the form as sent (values as strings), for the completion check. */
  fields: Record<string, string>;
}

/** No NUL and no lone surrogates: text PostgreSQL and Temporal store exactly as sent. */
const STORABLE = (value: string) => unstorableReason(value) === undefined;
const storable = (schema: z.ZodString) => schema.refine(STORABLE, 'contains a NUL or an unpaired surrogate');
const text = (max: number) => storable(z.string().trim().min(1).max(max));

/** REDCap project ids and repeat instances are PostgreSQL integers here. */
const MAX_INTEGER = 2_147_483_647;

const schema = z.object({
  record: text(200),
  project_id: z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .refine(atMostMaxInteger, `must be at most ${MAX_INTEGER}`)
    .transform(Number),
  redcap_url: storable(z.string().trim().min(1).max(2000).url())
    .refine((value) => /^https?:\/\//i.test(value), 'must be an http(s) URL')
    .transform(normalizeRedcapUrl),
  instrument: text(200),
  project_url: text(2000),
  redcap_event_name: storable(z.string().trim().max(100)).optional(),
  // Empty is absent (as for redcap_event_name); anything else must be an instance number.
  redcap_repeat_instance: z
    .string()
    .trim()
    .refine(
      (value) => value === '' || (/^\d+$/.test(value) && Number(value) > 0 && atMostMaxInteger(value)),
      `must be a positive whole number up to ${MAX_INTEGER} (the repeat instance)`,
    )
    .optional(),
  redcap_repeat_instrument: storable(z.string().trim().max(200)).optional(),
  username: storable(z.string().trim().max(255)).optional(),
});

function atMostMaxInteger(digits: string): boolean {
  return digits.replace(/^0+(?=\d)/, '').length <= 10 && Number(digits) <= MAX_INTEGER;
}

/** Turns a parsed body (form or JSON) into flat string fields; nested values and arrays are dropped. */
export function flattenFields(body: unknown): Record<string, string> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return {};
  // Object.fromEntries defines own properties: a key like __proto__ stays a plain field.
  return Object.fromEntries(
    Object.entries(body as Record<string, unknown>)
      .filter(([, value]) => typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      .map(([key, value]) => [key, String(value)]),
  );
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
  if (d.redcap_repeat_instrument && !d.redcap_repeat_instance) {
    throw new BadRequestError(
      'Invalid REDCap Data Entry Trigger: redcap_repeat_instrument is set but redcap_repeat_instance is missing',
      {
        invalid: ['redcap_repeat_instance'],
        keysFound,
      },
    );
  }
  return {
    record: d.record,
    projectId: d.project_id,
    redcapUrl: d.redcap_url,
    instrument: d.instrument,
    projectUrl: d.project_url,
    eventName: d.redcap_event_name ? d.redcap_event_name : undefined,
    instance: d.redcap_repeat_instance ? Number(d.redcap_repeat_instance) : undefined,
    repeatInstrument: d.redcap_repeat_instrument ? d.redcap_repeat_instrument : undefined,
    redcapVersion: redcapVersionOf(d.project_url),
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
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return `${config.completedField} is "${shown}", not "${config.completedValue}" (the form is not complete)`;
  }
  return undefined;
}
