/**
 * A fake XNAT for tests and `npm run fake-xnat`: a real HTTP server on 127.0.0.1 that answers the part of XNAT's REST
 * API the service uses the way XNAT does, with the shapes of test/fixtures/xnat (its README says where each comes
 * from):
 *   POST   /data/JSESSION                         basic auth → 200, the session id as text, cookie JSESSIONID
 *   DELETE /data/JSESSION                         ends the session
 *   GET    /data/projects/{p}/experiments         ?format=json [&columns=…] [&label=…] [&xnat:experimentData/sharing/share/label=…]
 *   GET    /data/experiments/{id}/scans           ?format=json
 *   GET    /data/prearchive/projects/{p}          ?format=json
 * Every GET needs a live JSESSIONID cookie (or basic auth): 401 otherwise. Like XNAT, a project's listing holds the
 * experiments it owns and those shared into it (with the label of their share; `project` stays the owner), its
 * `label=` filter compares the owner's label (`*`/`%` make it a LIKE, where `_` matches any character; commas separate
 * alternatives), and its times are local to the server's zone (`timeZone`, default UTC).
 *
 * It records every request, and can be told to misbehave: an expired password (the login answers 200 with the login
 * page), ended sessions (401, or the login page), slow answers, being down (connections refused), 5xx answers, and
 * answers that are not what the API documents.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { formatXnatTime } from '../../src/xnat/time';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'xnat');

export function xnatFixture(name: string): string {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8');
}

type FixtureRow = Record<string, string>;
function fixtureRows(name: string): FixtureRow[] {
  return (JSON.parse(xnatFixture(name)) as { ResultSet: { Result: FixtureRow[] } }).ResultSet.Result;
}

/** The keys of XNAT's listings, in XNAT's order (from the fixtures). */
const DEFAULT_EXPERIMENT_COLUMNS = Object.keys(fixtureRows('experiments.json')[0]);
const SCAN_TEMPLATES = fixtureRows('scans.json');
const PREARCHIVE_TEMPLATE = fixtureRows('prearchive.json')[0];

export interface FakeScan {
  id: string;
  type: string;
  description?: string;
  quality?: string;
}

export interface FakeExperiment {
  /** XNAT's accession id; default XNAT_E<5 digits>. */
  id?: string;
  /** The owning project. */
  project: string;
  label: string;
  /** The scan date, YYYY-MM-DD. */
  date?: string;
  insertedAt?: Date;
  modifiedAt?: Date | null;
  xsiType?: string;
  /** Its scans, or how many (made from the fixture's). */
  scans?: FakeScan[] | number;
  /** Projects it is shared into, under which labels. */
  shares?: Array<{ project: string; label: string }>;
}

export interface FakePrearchiveEntry {
  project: string;
  /** The session label it will be archived under. */
  name: string;
  subject?: string;
  status?: string;
  uploadedAt?: Date;
  scanDate?: string;
}

export interface FakeXnatCall {
  method: string;
  /** The path, e.g. /data/projects/SPN01_CMH/experiments. */
  path: string;
  query: Record<string, string>;
  status: number;
  /** A live JSESSIONID came with it. */
  session: boolean;
}

export interface FakeXnatOptions {
  port?: number;
  user?: string;
  password?: string;
  /** The zone its times are written in (default UTC). */
  timeZone?: string;
  /** Where XNAT is on the server, e.g. /xnat/ (default /). */
  basePath?: string;
}

interface StoredExperiment extends Required<Omit<FakeExperiment, 'scans' | 'modifiedAt' | 'date'>> {
  date?: string;
  modifiedAt: Date | null;
  scans: FakeScan[];
}

export class FakeXnat {
  readonly calls: FakeXnatCall[] = [];
  /** Every session id it gave out (to check that none leaks into a message). */
  readonly issued: string[] = [];
  readonly user: string;
  readonly password: string;
  readonly timeZone: string;
  readonly basePath: string;
  private readonly projects = new Set<string>();
  private readonly experiments: StoredExperiment[] = [];
  private readonly prearchive: Array<Required<Omit<FakePrearchiveEntry, 'scanDate'>> & { scanDate?: string }> = [];
  private readonly sessions = new Set<string>();
  private nextExperiment = 1;
  private server: http.Server;
  private port: number;
  private passwordExpired = false;
  private endedSessionAnswer: 401 | 'login-page' = 401;
  private delay: { ms: number; remaining: number } = { ms: 0, remaining: 0 };
  private failures: { remaining: number; status: number; pathEnd?: string } = { remaining: 0, status: 503 };
  private oddAnswers: { remaining: number; status: number; body: string; headers: Record<string, string> } | undefined;

  private constructor(server: http.Server, port: number, options: FakeXnatOptions) {
    this.server = server;
    this.port = port;
    this.user = options.user ?? 'xnat-reader';
    this.password = options.password ?? 'fake-xnat-password';
    this.timeZone = options.timeZone ?? 'UTC';
    this.basePath = `/${(options.basePath ?? '/').replace(/^\/+|\/+$/g, '')}/`.replace('//', '/');
  }

  /** `port` 0 (default) picks a free one. */
  static async start(options: FakeXnatOptions = {}): Promise<FakeXnat> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
    const fake = new FakeXnat(server, (server.address() as AddressInfo).port, options);
    fake.attach(server);
    return fake;
  }

  /** Base URL with a trailing slash, as an XNAT config holds it. */
  get url(): string {
    return `http://127.0.0.1:${this.port}${this.basePath}`;
  }

  addProject(project: string): this {
    this.projects.add(project);
    return this;
  }

  /** An archived experiment (its project, and those it is shared into, are added). Returns its accession id. */
  addExperiment(experiment: FakeExperiment): string {
    const id = experiment.id ?? `XNAT_E${String(this.nextExperiment++).padStart(5, '0')}`;
    const scans =
      typeof experiment.scans === 'number'
        ? Array.from({ length: experiment.scans }, (_, i) => {
            const template = SCAN_TEMPLATES[i % SCAN_TEMPLATES.length];
            return { id: String(i + 1), type: template.type, description: template.series_description };
          })
        : (experiment.scans ?? []);
    this.addProject(experiment.project);
    for (const share of experiment.shares ?? []) this.addProject(share.project);
    this.experiments.push({
      id,
      project: experiment.project,
      label: experiment.label,
      date: experiment.date,
      insertedAt: experiment.insertedAt ?? new Date(),
      modifiedAt: experiment.modifiedAt ?? null,
      xsiType: experiment.xsiType ?? 'xnat:mrSessionData',
      scans,
      shares: experiment.shares ?? [],
    });
    return id;
  }

  /** Renames an experiment in its own project (an XNAT admin fixing a label): it is modified now. */
  relabel(id: string, label: string, at = new Date()): this {
    const experiment = this.experiments.find((candidate) => candidate.id === id);
    if (!experiment) throw new Error(`the fake XNAT has no experiment ${id}`);
    experiment.label = label;
    experiment.modifiedAt = at;
    return this;
  }

  addPrearchive(entry: FakePrearchiveEntry): this {
    this.addProject(entry.project);
    this.prearchive.push({
      project: entry.project,
      name: entry.name,
      subject: entry.subject ?? entry.name.split('_').slice(0, -1).join('_'),
      status: entry.status ?? 'READY',
      uploadedAt: entry.uploadedAt ?? new Date(),
      scanDate: entry.scanDate,
    });
    return this;
  }

  /** A prearchive session archived (XNAT's "Archive" button): it leaves the prearchive and becomes an experiment. */
  archive(project: string, name: string, experiment: Partial<FakeExperiment> = {}): string {
    const index = this.prearchive.findIndex((entry) => entry.project === project && entry.name === name);
    if (index < 0) throw new Error(`the fake XNAT has no prearchive session ${name} in ${project}`);
    const [entry] = this.prearchive.splice(index, 1);
    return this.addExperiment({ project, label: name, date: entry.scanDate, scans: 3, ...experiment });
  }

  /** Logins answer 200 with the login page, as XNAT does for a user whose password expired. */
  expirePassword(expired = true): this {
    this.passwordExpired = expired;
    return this;
  }

  /** Every session ends (XNAT's session timeout): requests with one answer 401, or 200 with the login page. */
  expireSessions(answer: 401 | 'login-page' = 401): this {
    this.sessions.clear();
    this.endedSessionAnswer = answer;
    return this;
  }

  /** Every answer (or the next `count`) waits this long first (0: none). */
  slow(delayMs: number, count = Infinity): this {
    this.delay = { ms: delayMs, remaining: count };
    return this;
  }

  /**
   * The next `count` requests (to a path that ends with `pathEnd`, if given) answer `status` (default 503) with an
   * HTML error page (a proxy in front of XNAT).
   */
  failNext(count: number, status = 503, pathEnd?: string): this {
    this.failures = { remaining: count, status, pathEnd };
    return this;
  }

  /** The next `count` GETs answer this instead (an answer that is not what XNAT's API documents, a redirect). */
  answerNext(
    count: number,
    body: string,
    options: { status?: number; type?: string; headers?: Record<string, string> } = {},
  ): this {
    const headers = { 'content-type': options.type ?? 'application/json', ...options.headers };
    this.oddAnswers = { remaining: count, body, status: options.status ?? 200, headers };
    return this;
  }

  /** Stops listening: connections are refused until up(). */
  async down(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listens again, on the same port. */
  async up(): Promise<void> {
    if (this.server.listening) return;
    this.server = http.createServer();
    this.attach(this.server);
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  /** Back to answering normally; data, sessions and the call log are kept. */
  heal(): this {
    this.passwordExpired = false;
    this.delay = { ms: 0, remaining: 0 };
    this.failures = { remaining: 0, status: 503 };
    this.oddAnswers = undefined;
    return this;
  }

  /** Requests made since the call log had `from` entries, e.g. the GETs of one check. */
  callsSince(from: number): FakeXnatCall[] {
    return this.calls.slice(from);
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  private attach(server: http.Server): void {
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      void this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/html' }).end('<html>Internal error</html>');
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    for await (const chunk of req) void chunk; // the body is not used
    const url = new URL(req.url ?? '/', 'http://fake-xnat');
    const query = Object.fromEntries(url.searchParams);
    const session = this.sessionOf(req);
    const call: FakeXnatCall = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      status: 0,
      session: !!session,
    };
    this.calls.push(call);
    // The path under XNAT's base, e.g. /data/JSESSION.
    const route = url.pathname.startsWith(this.basePath) ? `/${url.pathname.slice(this.basePath.length)}` : '';
    const send = (status: number, body: string, type: string, headers: Record<string, string> = {}) => {
      call.status = status;
      const write = () => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': type, ...headers });
        res.end(body);
      };
      if (this.delay.ms > 0 && this.delay.remaining > 0) {
        this.delay.remaining -= 1;
        setTimeout(write, this.delay.ms).unref();
      } else write();
    };
    const html = (status: number, body: string, headers: Record<string, string> = {}) =>
      send(status, body, 'text/html;charset=UTF-8', headers);
    const json = (rows: Array<Record<string, string>>) =>
      send(200, JSON.stringify({ ResultSet: { Result: rows, totalRecords: String(rows.length) } }), 'application/json');

    if (this.failures.remaining > 0 && (!this.failures.pathEnd || url.pathname.endsWith(this.failures.pathEnd))) {
      this.failures.remaining -= 1;
      return html(this.failures.status, '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>');
    }

    if (route === '/data/JSESSION') {
      if (req.method === 'DELETE') {
        if (session) this.sessions.delete(session);
        return send(200, '', 'text/plain');
      }
      if (req.method !== 'POST' && req.method !== 'GET') return html(405, '<html>Method Not Allowed</html>');
      if (!this.basicAuthValid(req)) return html(401, xnatFixture('unauthorized.html'));
      if (this.passwordExpired) return html(200, xnatFixture('login-expired-password.html'));
      const id = randomBytes(16).toString('hex').toUpperCase();
      this.sessions.add(id);
      this.issued.push(id);
      return send(200, id, 'text/plain;charset=UTF-8', { 'set-cookie': `JSESSIONID=${id}; Path=/; HttpOnly` });
    }

    if (!route.startsWith('/data/')) return html(404, '<html><body>Not Found</body></html>');
    if (req.method !== 'GET') return html(405, '<html>Method Not Allowed</html>');
    if (!session && !this.basicAuthValid(req)) {
      return this.endedSessionAnswer === 'login-page' && this.sessionCookie(req)
        ? html(200, xnatFixture('login-expired-password.html'))
        : html(401, xnatFixture('unauthorized.html'));
    }
    if (this.oddAnswers && this.oddAnswers.remaining > 0) {
      const odd = this.oddAnswers;
      odd.remaining -= 1;
      const { 'content-type': type, ...headers } = odd.headers;
      return send(odd.status, odd.body, type, headers);
    }

    const parts = route.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts.length === 4 && parts[0] === 'data' && parts[1] === 'projects' && parts[3] === 'experiments') {
      const project = parts[2];
      if (!this.projects.has(project))
        return html(404, `<html><body>Unable to identify project ${project}</body></html>`);
      return json(this.listExperiments(project, query));
    }
    if (parts.length === 4 && parts[0] === 'data' && parts[1] === 'experiments' && parts[3] === 'scans') {
      const experiment = this.experiments.find((candidate) => candidate.id === parts[2]);
      if (!experiment) return html(404, `<html><body>Unable to find experiment ${parts[2]}</body></html>`);
      return json(experiment.scans.map((scan) => this.scanRow(experiment, scan)));
    }
    if (parts.length === 4 && parts[0] === 'data' && parts[1] === 'prearchive' && parts[2] === 'projects') {
      const project = parts[3];
      return json(
        this.prearchive.filter((entry) => entry.project === project).map((entry) => this.prearchiveRow(entry)),
      );
    }
    return html(404, '<html><body>Not Found</body></html>');
  }

  private listExperiments(project: string, query: Record<string, string>): Array<Record<string, string>> {
    const columns = query.columns
      ? query.columns.split(',').filter((column) => column !== 'URI')
      : DEFAULT_EXPERIMENT_COLUMNS.filter((column) => column !== 'URI');
    const labelFilter = query.label === undefined ? undefined : stringFilter(query.label);
    const shareFilter =
      query['xnat:experimentData/sharing/share/label'] === undefined
        ? undefined
        : stringFilter(query['xnat:experimentData/sharing/share/label']);
    return this.experiments
      .filter((experiment) => experiment.project === project || experiment.shares.some((s) => s.project === project))
      .filter((experiment) => labelFilter === undefined || labelFilter(experiment.label))
      .filter(
        (experiment) =>
          shareFilter === undefined ||
          experiment.shares.some((share) => share.project === project && shareFilter(share.label)),
      )
      .map((experiment) => {
        const label = experiment.shares.find((share) => share.project === project)?.label ?? experiment.label;
        const values: Record<string, string> = {
          ID: experiment.id,
          'xnat:subjectassessordata/id': experiment.id,
          label,
          project: experiment.project,
          date: experiment.date ?? '',
          xsiType: experiment.xsiType,
          insert_date: formatXnatTime(experiment.insertedAt, this.timeZone),
          last_modified: experiment.modifiedAt ? formatXnatTime(experiment.modifiedAt, this.timeZone) : '',
        };
        // Unknown columns are left out, as XNAT leaves out an alias it does not know.
        const row = Object.fromEntries(columns.filter((c) => c in values).map((column) => [column, values[column]]));
        return { ...row, URI: `/data/experiments/${experiment.id}` };
      });
  }

  private scanRow(experiment: StoredExperiment, scan: FakeScan): Record<string, string> {
    const values: Record<string, string> = {
      xsiType: 'xnat:mrScanData',
      xnat_imagescandata_id: String(10_000 + this.experiments.indexOf(experiment) * 100 + Number(scan.id)),
      note: '',
      series_description: scan.description ?? scan.type,
      ID: scan.id,
      type: scan.type,
      URI: `/data/experiments/${experiment.id}/scans/${scan.id}`,
      quality: scan.quality ?? 'usable',
    };
    return Object.fromEntries(Object.keys(SCAN_TEMPLATES[0]).map((key) => [key, values[key]]));
  }

  private prearchiveRow(entry: FakeXnat['prearchive'][number]): Record<string, string> {
    const uploaded = formatXnatTime(entry.uploadedAt, this.timeZone);
    const timestamp = uploaded.replace(/[-:]/g, '').replace(' ', '_').replace('.', '');
    const values: Record<string, string> = {
      ...PREARCHIVE_TEMPLATE,
      status: entry.status,
      subject: entry.subject,
      uploaded,
      lastmod: uploaded,
      scan_date: entry.scanDate ?? '',
      url: `/prearchive/projects/${entry.project}/${timestamp}/${entry.name}`,
      timestamp,
      project: entry.project,
      name: entry.name,
      folderName: entry.name,
    };
    return Object.fromEntries(Object.keys(PREARCHIVE_TEMPLATE).map((key) => [key, values[key]]));
  }

  private sessionCookie(req: http.IncomingMessage): string | undefined {
    return /(?:^|;\s*)JSESSIONID=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  }

  private sessionOf(req: http.IncomingMessage): string | undefined {
    const id = this.sessionCookie(req);
    return id && this.sessions.has(id) ? id : undefined;
  }

  private basicAuthValid(req: http.IncomingMessage): boolean {
    const match = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (!match) return false;
    return Buffer.from(match[1], 'base64').toString('utf8') === `${this.user}:${this.password}`;
  }
}

/**
 * XNAT's string filter: equality, or with `*` or `%` a SQL LIKE (where `_` is any one character); commas: any of.
 * Compiled once per request.
 */
function stringFilter(filter: string): (value: string) => boolean {
  const alternatives = filter.split(',').map((alternative) => {
    if (!/[*%]/.test(alternative)) return (value: string) => value === alternative;
    const pattern = alternative
      .split('')
      .map((c) => (c === '*' || c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    const regex = new RegExp(`^${pattern}$`, 's');
    return (value: string) => regex.test(value);
  });
  return (value) => alternatives.some((matches) => matches(value));
}
