/**
 * A fake REDCap server for tests: a real HTTP server on 127.0.0.1 (or another address; random port) whose `POST /api/`
 * answers Export Records (content=record: `records[i]`, `fields[i]`, `events[i]`, `dateRangeBegin`; refusing any that
 * asks for more than the service needs, see overAsked), Import Records (content=record with
 * data=), Export Events (content=event) and Export Metadata (content=metadata, the record id field only) the way REDCap
 * does, from the fixtures in test/fixtures/redcap: every value a string, but `redcap_repeat_instance`, a JSON number on
 * the rows of repeat instances ("" on a record's base row). It checks the token (403 with export-bad-token.json),
 * records every call, and can be told to fail: 5xx for N calls, slow answers, answers held until the test releases
 * them, 403, and its connections gone silent as when a server goes away (`vanish`).
 *
 * The comment and user values it answers with are registered as participant text
 * (test/support/participant-texts.ts).
 *
 * Like REDCap, it knows when each record was last modified (saved, or imported), and reads `dateRangeBegin` in its
 * own clock (`utcOffsetMinutes` of the project: a REDCap server ahead of or behind ours).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { registerIdText, registerParticipantText, type ParticipantTextKind } from './participant-texts';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'redcap');

/** A fixture file as text (det-*.form) or parsed JSON (export-*.json). */
export function redcapFixture(name: string): string {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8');
}
export function redcapFixtureRows(name: string): Array<Record<string, string>> {
  return JSON.parse(redcapFixture(name)) as Array<Record<string, string>>;
}
/** Rows of an export fixture with repeat instances (redcap_repeat_instance is a number on their rows). */
export function redcapFixtureRepeatRows(name: string): FakeRow[] {
  return JSON.parse(redcapFixture(name)) as FakeRow[];
}
/** A DET fixture as fields, e.g. to change one before sending. */
export function detFixtureFields(name: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(redcapFixture(name).trim()));
}

/** A row as REDCap's JSON has it: text, but redcap_repeat_instance is a number on the row of a repeat instance. */
export type FakeRow = Record<string, string | number>;

export interface FakeProject {
  token: string;
  /** Export Records rows, in order; Import Records changes them in place. */
  records: FakeRow[];
  /** Longitudinal projects: unique event name → event_id. Classic projects have none. */
  events?: Record<string, number>;
  /**
   * The REDCap server's clock, in minutes ahead of UTC (e.g. -300 for Toronto in winter, 840 for Kiribati): Export
   * Records reads `dateRangeBegin` in it. Default 0.
   */
  utcOffsetMinutes?: number;
  /**
   * The fields whose values are the participant's text (default: `comments` and `ra_id`, as the fixtures name the
   * comment and user fields): every value of them Export Records answers with is registered for the history scan
   * (test/support/participant-texts.ts).
   */
  participantFields?: Record<string, ParticipantTextKind>;
}

const PARTICIPANT_FIELDS: Record<string, ParticipantTextKind> = { comments: 'redcap-comment', ra_id: 'redcap-user' };

export interface FakeCall {
  content: string;
  record?: string;
  tokenValid: boolean;
  status: number;
  /** The parameters as sent, without the token. */
  params: Record<string, string>;
}

export class FakeRedcap {
  /** What was asked, in order. */
  readonly calls: FakeCall[] = [];
  private readonly projects = new Map<string, FakeProject>();
  /** Per project token: record → when it was last modified (ms since the epoch); unset: when the project was added. */
  private readonly modified = new Map<string, { since: number; records: Map<string, number> }>();
  private failures: { remaining: number; status: number; content?: string } = { remaining: 0, status: 503 };
  private delayMs = 0;
  private held: Array<() => void> | undefined;
  private forbidden = false;
  /** Connections open now, and those made silent by vanish (destroyed at close). */
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: http.Server,
    /** Base URL with a trailing slash, as stored in a RedcapConfig: http://127.0.0.1:<port>/ */
    readonly url: string,
  ) {}

  /**
   * `port` 0 (default) picks a free one. `host` is loopback but for a service in containers, which reaches this one
   * on its network's gateway address (test/compose/).
   */
  static async start(port = 0, host = '127.0.0.1'): Promise<FakeRedcap> {
    const server = http.createServer((req, res) => {
      void fake.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    const fake = new FakeRedcap(server, `http://${host}:${(server.address() as AddressInfo).port}/`);
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.once('close', () => fake.sockets.delete(socket));
    });
    return fake;
  }

  addProject(project: FakeProject): this {
    this.projects.set(project.token, project);
    this.modified.set(project.token, { since: Date.now(), records: new Map() });
    return this;
  }

  /**
   * A form saved in REDCap (whether or not its Data Entry Trigger reaches us): the row replaces the project's row of
   * the same record, event and repeat instance, or is added; the record is modified at `at` (default now).
   */
  saveRow(token: string, row: FakeRow, at = new Date()): this {
    const project = this.projectOf(token);
    const index = project.records.findIndex((existing) => rowKey(existing) === rowKey(row));
    if (index >= 0) project.records[index] = row;
    else project.records.push(row);
    return this.touch(token, firstValue(row), at);
  }

  /** Sets when a record was last modified (REDCap's log time), e.g. to put it before a date range. */
  touch(token: string, record: string, at: Date): this {
    this.projectOf(token);
    this.modified.get(token)!.records.set(record, at.getTime());
    return this;
  }

  private projectOf(token: string): FakeProject {
    const project = this.projects.get(token);
    if (!project) throw new Error(`the fake REDCap has no project with token ${token.slice(0, 4)}…`);
    return project;
  }

  /** The next `count` API calls (of one `content` only, if given) answer `status` (default 503) with an HTML error page. */
  failNext(count: number, status = 503, content?: string): this {
    this.failures = { remaining: count, status, content };
    return this;
  }

  /** Every answer waits this long first (0: no wait). */
  slow(delayMs: number): this {
    this.delayMs = delayMs;
    return this;
  }

  /**
   * From now on, answers are composed when a call arrives (the data as it is then) but sent only when the returned
   * function is called: REDCap slow, for exactly as long as the test wants.
   */
  hold(): () => void {
    const held: Array<() => void> = [];
    this.held = held;
    return () => {
      if (this.held === held) this.held = undefined;
      for (const send of held.splice(0)) send();
    };
  }

  /** Every call answers 403 as for a revoked token. */
  forbid(on = true): this {
    this.forbidden = on;
    return this;
  }

  /** Back to answering normally (held answers are sent); the call log is kept. */
  heal(): this {
    for (const send of this.held?.splice(0) ?? []) send();
    this.held = undefined;
    this.failures = { remaining: 0, status: 503 };
    this.delayMs = 0;
    this.forbidden = false;
    return this;
  }

  /**
   * REDCap went away and is back at once at its address (a restart behind a load balancer, a failover): every
   * connection open now goes silent, as one to a host that is gone does (no answer, no FIN, no reset), while new
   * connections are answered as before.
   */
  vanish(): this {
    for (const socket of this.sockets) {
      socket.removeAllListeners('data');
      socket.removeAllListeners('timeout');
      socket.setTimeout(0);
      socket.pause();
      socket.on('error', () => undefined);
    }
    return this;
  }

  callsFor(content: string, record?: string): FakeCall[] {
    return this.calls.filter((call) => call.content === content && (record === undefined || call.record === record));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const { token = '', ...params } = Object.fromEntries(form);
    const project = this.projects.get(token);
    const call: FakeCall = {
      content: params.content ?? '',
      record: params['records[0]'],
      tokenValid: Boolean(project),
      status: 0,
      params,
    };
    this.calls.push(call);

    const answer = (status: number, body: unknown, type = 'application/json') => {
      call.status = status;
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': `${type}; charset=utf-8` });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      if (this.held) this.held.push(send);
      else if (this.delayMs > 0) setTimeout(send, this.delayMs).unref();
      else send();
    };

    // The API lives at <base URL>api/, wherever the base URL is (e.g. https://host/redcap/).
    if (req.method !== 'POST' || !req.url?.endsWith('/api/'))
      return answer(404, '<html><body>Not Found</body></html>', 'text/html');
    if (
      this.failures.remaining > 0 &&
      (this.failures.content === undefined || this.failures.content === call.content)
    ) {
      this.failures.remaining -= 1;
      return answer(this.failures.status, '<html><body><h1>Service Unavailable</h1></body></html>', 'text/html');
    }
    if (this.forbidden || !project) return answer(403, JSON.parse(redcapFixture('export-bad-token.json')));
    if (params.format !== 'json' || params.returnFormat !== 'json')
      return answer(400, { error: 'This test server answers format=json only' });

    if (params.content === 'record' && params.data !== undefined) {
      try {
        const imported = importRecords(project, params.data);
        for (const record of imported) this.touch(token, record, new Date());
        return answer(200, { count: imported.size });
      } catch {
        return answer(400, { error: 'The data being imported is not formatted correctly' });
      }
    }
    if (params.content === 'record') {
      if (params.type !== 'flat') return answer(400, { error: 'The value of the parameter "type" is not valid' });
      const refusal = overAsked(project, params);
      if (refusal) return answer(400, { error: refusal });
      const wanted = listParam(params, 'records');
      let rows =
        wanted.length === 0 ? project.records : project.records.filter((row) => wanted.includes(firstValue(row)));
      if (params.dateRangeBegin !== undefined) {
        // REDCap compares with its log's times, in its own clock: the string is that clock's local time.
        const local = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(params.dateRangeBegin);
        if (!local)
          return answer(400, {
            error: 'The value of the parameter "dateRangeBegin" is not a valid date/time (Y-M-D H:M:S)',
          });
        const [year, month, day, hour, minute, second] = local.slice(1).map(Number);
        const begin = Date.UTC(year, month - 1, day, hour, minute, second) - (project.utcOffsetMinutes ?? 0) * 60_000;
        const modified = this.modified.get(token)!;
        // Log times have whole seconds; "after" the given time.
        rows = rows.filter(
          (row) => Math.floor((modified.records.get(firstValue(row)) ?? modified.since) / 1000) * 1000 > begin,
        );
      }
      const events = listParam(params, 'events');
      if (events.length > 0)
        rows = rows.filter((row) => !('redcap_event_name' in row) || events.includes(String(row.redcap_event_name)));
      // REDCap sends its event and repeat columns only with the record id field (REDCap 6 and later).
      const fields = listParam(params, 'fields');
      const kept = new Set(fields);
      if (fields.includes(recordIdFieldOf(project)))
        for (const column of ['redcap_event_name', 'redcap_repeat_instrument', 'redcap_repeat_instance'])
          kept.add(column);
      rows = rows.map((row) => Object.fromEntries(Object.entries(row).filter(([key]) => kept.has(key))));
      for (const row of rows) {
        registerIdText(firstValue(row));
        for (const [field, kind] of Object.entries(project.participantFields ?? PARTICIPANT_FIELDS))
          if (typeof row[field] === 'string') registerParticipantText(kind, row[field]);
      }
      return answer(200, rows);
    }
    if (params.content === 'metadata') {
      return answer(200, [
        { field_name: recordIdFieldOf(project), form_name: 'enrolment', field_type: 'text', field_label: 'Record ID' },
      ]);
    }
    if (params.content === 'event') {
      if (!project.events) return answer(400, { error: 'You cannot export events for classic projects' });
      return answer(
        200,
        Object.entries(project.events).map(([unique, id], index) => ({
          event_name: unique.replace(/_arm_\d+$/, '').replace(/_/g, ' '),
          arm_num: 1,
          unique_event_name: unique,
          custom_event_label: null,
          event_id: id,
          days_offset: index * 180,
        })),
      );
    }
    return answer(400, { error: `The value of the parameter "content" is not valid` });
  }
}

/**
 * Fields of every project that the service never reads (no REDCap config names them): a participant's date of birth
 * and medical record number, as real projects hold beside the scan log.
 */
export const PARTICIPANT_ONLY_FIELDS = ['dob', 'mrn'];

/**
 * Why an Export Records asks for more than the service needs, or undefined. Not REDCap's behaviour but this test
 * server's rule, so that every test proves the service reads only what it needs: the export must name its fields
 * (REDCap sends every field of the project otherwise), name no form (REDCap adds all of a form's fields) and none of
 * the participant's fields that no config names; a field the project does not have is refused as REDCap refuses it.
 */
function overAsked(project: FakeProject, params: Record<string, string>): string | undefined {
  const fields = listParam(params, 'fields');
  if (fields.length === 0)
    return 'fake REDCap: Export Records without fields[] would send every field of the project; name the fields read';
  if (listParam(params, 'forms').length > 0)
    return 'fake REDCap: Export Records with forms[] would send every field of those forms; name the fields read';
  const participantOnly = fields.filter((field) => PARTICIPANT_ONLY_FIELDS.includes(field));
  if (participantOnly.length > 0)
    return `fake REDCap: Export Records asked for ${participantOnly.join(', ')}, which no REDCap config names`;
  if (project.records.length === 0) return undefined;
  const known = new Set(project.records.flatMap((row) => Object.keys(row)));
  const unknown = fields.filter((field) => !known.has(field));
  if (unknown.length > 0)
    return `The following values in the parameter "fields" are not valid: ${unknown.map((f) => `'${f}'`).join(', ')}`;
  return undefined;
}

/** The project's record id field: its first field (here: the first key of its rows; record_id when it has none). */
function recordIdFieldOf(project: FakeProject): string {
  return Object.keys(project.records[0] ?? { record_id: '' })[0];
}

/** The record id is the first field of a REDCap row (record_id by default). */
function firstValue(row: FakeRow): string {
  return String(Object.values(row)[0]);
}

/**
 * Import Records (format=json, type=flat, overwriteBehavior=normal): each row updates the row of the same record,
 * event and repeat instance (blank values leave a value as it is), or is added. Returns the records it named.
 */
function importRecords(project: FakeProject, data: string): Set<string> {
  const rows = JSON.parse(data) as FakeRow[];
  for (const row of rows) {
    if (row.redcap_repeat_instance !== undefined && row.redcap_repeat_instance !== '')
      row.redcap_repeat_instance = Number(row.redcap_repeat_instance);
    const existing = project.records.find((candidate) => rowKey(candidate) === rowKey(row));
    if (!existing) project.records.push(row);
    else for (const [field, value] of Object.entries(row)) if (value !== '') existing[field] = value;
  }
  return new Set(rows.map(firstValue));
}

/** A row's identity: record, event, repeat instrument and instance. */
function rowKey(row: FakeRow): string {
  return JSON.stringify([
    firstValue(row),
    row.redcap_event_name ?? '',
    row.redcap_repeat_instrument ?? '',
    String(row.redcap_repeat_instance ?? ''),
  ]);
}

/** The values of `name[0]`, `name[1]`, … in order. */
function listParam(params: Record<string, string>, name: string): string[] {
  return Object.entries(params)
    .map(([key, value]) => [new RegExp(`^${name}\\[(\\d+)\\]$`).exec(key)?.[1], value] as const)
    .filter((entry): entry is readonly [string, string] => entry[0] !== undefined)
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([, value]) => value);
}
