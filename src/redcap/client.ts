/**
 * The REDCap API client: Export Records (one record; or, for reconciliation, the records changed since a time, then
 * pages of them), Export Events and Export Metadata. It only ever calls the URL stored in a
 * REDCap config (never one taken from a request), with a timeout on every call, and never puts the token in an
 * error. Errors say whether trying again can help (`retryable`) and carry a type name for Temporal.
 */
import { recordName } from './names';
import { normalizeRedcapUrl } from './urls';

/** What the client needs from a RedcapConfig. */
export interface RedcapEndpoint {
  url: string;
  project: number;
  token: string;
}

/** One row of an Export Records answer (type=flat), every value as text (REDCap sends redcap_repeat_instance as a number). */
export type RedcapRow = Record<string, string>;

/** Which instance of a repeating instrument (or, without an instrument, of a repeating event) to read. */
export interface RepeatInstance {
  instance?: number | null;
  instrument?: string;
}

export type RedcapErrorType =
  | 'RedcapAccessDenied' // 401/403: bad or revoked token, API rights missing
  | 'RedcapBadRequest' // 400 and other 4xx: REDCap refused the request as sent
  | 'RedcapRedirected' // 3xx: the configured URL is not the API
  | 'RedcapRecordNotFound' // zero rows (no such record, event or instance)
  | 'RedcapAmbiguousRecord' // more than one row
  | 'RedcapFieldMissing' // a configured field is not in the row, or is empty where a value is needed
  | 'RedcapFieldInvalid' // a value we cannot use, e.g. a date that is not a date
  | 'RedcapUnavailable' // 5xx, 429, timeouts, network errors: worth another try
  | 'RedcapBadResponse'; // 2xx that is not the JSON REDCap sends: a proxy page, a cut answer

export class RedcapError extends Error {
  constructor(
    message: string,
    readonly type: RedcapErrorType,
    readonly retryable: boolean,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RedcapError';
  }
}

export interface RedcapClientOptions {
  /** Per call, covering connect, answer and body (default 30 s). */
  timeoutMs?: number;
}

/**
 * How long a record id field read by Export Metadata is used without asking again. Reconciliation reads it afresh
 * at every run; a renamed record id field makes the exports that name the old one fail until then.
 */
export const RECORD_ID_FIELD_TTL_MS = 3_600_000;

const projectKey = (endpoint: RedcapEndpoint) => `${normalizeRedcapUrl(endpoint.url)} ${endpoint.project}`;

export class RedcapClient {
  private readonly timeoutMs: number;
  /** Per REDCap server and project: its record id field, and when it was read. */
  private readonly recordIdFields = new Map<string, { field: string; readAt: number }>();

  constructor(options: RedcapClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * The one row of `record`, with only `fields` (the record id field first: REDCap adds its event and repeat columns
   * only when it is asked for); in longitudinal projects only the event `eventName` (REDCap's `events[]`). For a
   * repeat instance the row of that instance (of `instrument`, or of a repeating event), else the record's base row
   * (REDCap exports one row per instance besides it, with `redcap_repeat_instance` a number there and "" on the base
   * row). Zero or several rows are errors that name the record, event and instance. `forms[]` is never sent: REDCap
   * adds every field of a named form to the fields named, which is more than we read.
   */
  async exportRecord(
    endpoint: RedcapEndpoint,
    record: string,
    fields: string[],
    eventName?: string | null,
    repeat: RepeatInstance = {},
  ): Promise<RedcapRow> {
    const what = `record ${recordName(record, eventName, repeat.instance)} of REDCap project ${endpoint.project}`;
    const details = { record, eventName: eventName ?? null, instance: repeat.instance ?? null };
    const params: Record<string, string> = { 'records[0]': record };
    fields.forEach((field, i) => (params[`fields[${i}]`] = field));
    if (eventName) params['events[0]'] = eventName;
    const answer = await this.call(endpoint, `Export Records for ${what}`, {
      content: 'record',
      format: 'json',
      type: 'flat',
      ...params,
      returnFormat: 'json',
    });
    if (!Array.isArray(answer)) {
      throw new RedcapError(
        `REDCap answered Export Records for ${what} with something other than a list of rows`,
        'RedcapBadResponse',
        true,
        {
          record,
        },
      );
    }
    let rows = answer.filter(
      (row): row is Record<string, unknown> => row !== null && typeof row === 'object' && !Array.isArray(row),
    );
    if (eventName && rows.some((row) => 'redcap_event_name' in row)) {
      rows = rows.filter((row) => row.redcap_event_name === eventName);
    }
    const text = (value: unknown) => (value === null || value === undefined ? '' : String(value));
    rows = repeat.instance
      ? rows.filter(
          (row) =>
            text(row.redcap_repeat_instance) === String(repeat.instance) &&
            (!repeat.instrument || ['', repeat.instrument].includes(text(row.redcap_repeat_instrument))),
        )
      : rows.filter((row) => text(row.redcap_repeat_instance) === '');
    if (rows.length === 0) {
      throw new RedcapError(`REDCap has no ${what}`, 'RedcapRecordNotFound', false, details);
    }
    if (rows.length > 1) {
      throw new RedcapError(
        `REDCap returned ${rows.length} rows for ${what}, expected one` +
          (eventName ? '' : ' (a longitudinal project must send redcap_event_name with the trigger)'),
        'RedcapAmbiguousRecord',
        false,
        { ...details, rows: rows.length },
      );
    }
    return stringValues(rows[0]);
  }

  /**
   * The project's record id field, as last read by Export Metadata (at most RECORD_ID_FIELD_TTL_MS ago), else read
   * now. `purpose` goes into the error message (e.g. the record being read).
   */
  async recordIdField(endpoint: RedcapEndpoint, purpose?: string): Promise<string> {
    const known = this.recordIdFields.get(projectKey(endpoint));
    if (known && known.readAt > Date.now() - RECORD_ID_FIELD_TTL_MS) return known.field;
    return this.exportRecordIdField(endpoint, purpose);
  }

  /** Export Metadata: the project's record id field, which is always its first field (remembered for recordIdField). */
  async exportRecordIdField(endpoint: RedcapEndpoint, purpose?: string): Promise<string> {
    const what = purpose
      ? `Export Metadata for ${purpose} of REDCap project ${endpoint.project} (its record id field)`
      : `Export Metadata of REDCap project ${endpoint.project}`;
    const answer = await this.call(endpoint, what, { content: 'metadata', format: 'json', returnFormat: 'json' });
    const first = Array.isArray(answer) ? (answer[0] as { field_name?: unknown } | undefined) : undefined;
    if (typeof first?.field_name !== 'string' || first.field_name === '') {
      throw new RedcapError(
        `REDCap answered ${what} without a first field (the record id field)`,
        'RedcapBadResponse',
        true,
      );
    }
    this.recordIdFields.set(projectKey(endpoint), { field: first.field_name, readAt: Date.now() });
    return first.field_name;
  }

  /**
   * Export Records by date range: the names of the records created or modified since `begin` (REDCap's dateRangeBegin,
   * `YYYY-MM-DD HH:MM:SS` read in the REDCap server's own clock), asking for the record id field only. Each name
   * once, sorted (by UTF-16 code units), so a long list can be worked through in order.
   */
  async exportRecordNamesSince(endpoint: RedcapEndpoint, recordIdField: string, begin: string): Promise<string[]> {
    const rows = await this.exportRows(
      endpoint,
      `Export Records changed since ${begin} of REDCap project ${endpoint.project}`,
      {
        'fields[0]': recordIdField,
        dateRangeBegin: begin,
      },
    );
    const names = new Set(rows.map((row) => row[recordIdField]).filter((name) => name !== undefined && name !== ''));
    return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Export Records of a page of records (`records[i]`), only `fields` (REDCap adds its event and repeat columns): all their rows. */
  async exportRecordRows(endpoint: RedcapEndpoint, records: string[], fields: string[]): Promise<RedcapRow[]> {
    const params: Record<string, string> = {};
    records.forEach((record, i) => (params[`records[${i}]`] = record));
    fields.forEach((field, i) => (params[`fields[${i}]`] = field));
    return this.exportRows(
      endpoint,
      `Export Records of ${records.length} records of REDCap project ${endpoint.project}`,
      params,
    );
  }

  /** Export Events: unique event name → event_id (events without an id in the answer are left out). */
  async exportEvents(endpoint: RedcapEndpoint): Promise<Map<string, number>> {
    const answer = await this.call(endpoint, `Export Events of REDCap project ${endpoint.project}`, {
      content: 'event',
      format: 'json',
      returnFormat: 'json',
    });
    if (!Array.isArray(answer)) {
      throw new RedcapError(
        `REDCap answered Export Events of project ${endpoint.project} with something other than a list`,
        'RedcapBadResponse',
        true,
      );
    }
    const events = new Map<string, number>();
    for (const event of answer as Array<Record<string, unknown>>) {
      const id = Number(event?.event_id);
      if (typeof event?.unique_event_name === 'string' && Number.isInteger(id) && id > 0)
        events.set(event.unique_event_name, id);
    }
    return events;
  }

  /** Export Records (flat JSON) with `params`: its rows, every value a string. */
  private async exportRows(
    endpoint: RedcapEndpoint,
    what: string,
    params: Record<string, string>,
  ): Promise<RedcapRow[]> {
    const answer = await this.call(endpoint, what, {
      content: 'record',
      format: 'json',
      type: 'flat',
      returnFormat: 'json',
      ...params,
    });
    if (!Array.isArray(answer)) {
      throw new RedcapError(
        `REDCap answered ${what} with something other than a list of rows`,
        'RedcapBadResponse',
        true,
      );
    }
    return answer
      .filter((row): row is Record<string, unknown> => row !== null && typeof row === 'object' && !Array.isArray(row))
      .map(stringValues);
  }

  /**
   * One API call: POST <url>api/ with the token; the parsed JSON answer, or a classified RedcapError.
   *
   * Each call has a connection of its own (`connection: close`): a kept-alive connection to a REDCap that went away
   * (restarted, failed over, its host gone) stays silent, and a call sent on it used to wait out the whole timeout
   * instead of failing at once and being retried. The timer is ours, cleared when the call is over, and covers
   * connect, answer and body.
   */
  private async call(endpoint: RedcapEndpoint, what: string, params: Record<string, string>): Promise<unknown> {
    const apiUrl = `${normalizeRedcapUrl(endpoint.url)}api/`;
    const scrub = (text: string) => (endpoint.token ? text.split(endpoint.token).join('[redacted]') : text);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.timeoutMs);
    let response: Response;
    let body: string;
    try {
      response = await fetch(apiUrl, {
        method: 'POST',
        headers: { accept: 'application/json', connection: 'close' },
        body: new URLSearchParams({ token: endpoint.token, ...params }),
        redirect: 'manual',
        signal: deadline.signal,
      });
      body = await response.text();
    } catch (err) {
      const reason = deadline.signal.aborted ? `no answer within ${this.timeoutMs / 1000} s` : networkReason(err);
      throw new RedcapError(scrub(`${what} failed: ${apiUrl} ${reason}`), 'RedcapUnavailable', true);
    } finally {
      clearTimeout(timer);
    }

    const status = response.status;
    const said = scrub(redcapMessage(body));
    if (status >= 200 && status < 300) {
      try {
        return JSON.parse(body) as unknown;
      } catch {
        throw new RedcapError(
          `${what}: REDCap answered ${status} with something other than JSON`,
          'RedcapBadResponse',
          true,
          { status },
        );
      }
    }
    const detail = `${what}: REDCap answered ${status}${said ? `: ${said}` : ''}`;
    if (status === 401 || status === 403) {
      throw new RedcapError(
        `${detail} (check the API token and the user's API export rights)`,
        'RedcapAccessDenied',
        false,
        { status },
      );
    }
    if (status === 429 || status === 408 || status >= 500)
      throw new RedcapError(detail, 'RedcapUnavailable', true, { status });
    if (status >= 300 && status < 400) {
      throw new RedcapError(
        `${what}: ${apiUrl} redirects (${status}); set the REDCap config's url to the server's base URL`,
        'RedcapRedirected',
        false,
        {
          status,
        },
      );
    }
    throw new RedcapError(detail, 'RedcapBadRequest', false, { status });
  }
}

/** REDCap puts its reason in {"error": "..."}; otherwise the start of the body, on one line. */
function redcapMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (parsed && typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON
  }
  return body.replace(/\s+/g, ' ').trim().slice(0, 200);
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return `could not be reached (${cause.code})`;
  return `could not be reached (${err instanceof Error ? err.message : String(err)})`;
}

function stringValues(row: Record<string, unknown>): RedcapRow {
  const out: RedcapRow = {};
  for (const [key, value] of Object.entries(row)) out[key] = value === null || value === undefined ? '' : String(value);
  return out;
}
