/**
 * The XNAT REST client: a JSESSION login (POST data/JSESSION with basic auth) kept per server and user and reused
 * until XNAT answers 401, then one new login; a project's experiments (all of them, or those whose label may name a
 * session), an experiment's scans, a project's prearchive. It only ever calls the configured URL (redirects are
 * refused, never followed; paths are built from escaped ids, never taken from an answer), with a timeout on every
 * request, and retries what may pass (timeouts, refused connections, 5xx, 429) with backoff. An answer that is not
 * what XNAT's API documents is an XnatError that says so. Passwords and session cookies never reach an error.
 */
import { z } from 'zod';
import { normalizeRedcapUrl as normalizeServerUrl } from '../redcap/urls';

/** What the client needs from an XnatConfig. */
export interface XnatEndpoint {
  url: string;
  user: string;
  password: string;
}

/** One row of a project's experiment listing (the label is the experiment's label in that project). */
export interface XnatExperiment {
  /** XNAT's accession id, e.g. XNAT_E00042: the same in every project the experiment is shared into. */
  id: string;
  label: string;
  /** The project that owns it (another project for an experiment shared into this one). */
  project: string;
  /** The scan date, YYYY-MM-DD, when XNAT has one. */
  date?: string;
  xsiType?: string;
  /** XNAT's `insert_date` and `last_modified`, as XNAT wrote them (its local time: src/xnat/time.ts). */
  insertDate?: string;
  lastModified?: string;
}

export interface XnatScan {
  id: string;
  type?: string;
  seriesDescription?: string;
  quality?: string;
}

/** One session in a project's prearchive (not archived yet). */
export interface XnatPrearchiveEntry {
  /** The session label it will be archived under. */
  name: string;
  subject?: string;
  /** READY, RECEIVING, ERROR, CONFLICT, BUILDING, … */
  status?: string;
  /** When XNAT received it and last changed it, as XNAT wrote them. */
  uploaded?: string;
  lastmod?: string;
  scanDate?: string;
}

export type XnatErrorType =
  | 'XnatLoginFailed' // the login was refused, or answered with a page instead of a session (an expired password)
  | 'XnatAccessDenied' // 403: the user may not read this
  | 'XnatNotFound' // 404: no such project or experiment
  | 'XnatRedirected' // 3xx: the configured URL is not XNAT's base URL
  | 'XnatBadRequest' // another 4xx
  | 'XnatUnavailable' // timeouts, network errors, 5xx, 429, after the retries
  | 'XnatBadResponse'; // 2xx that is not what the API documents

export class XnatError extends Error {
  constructor(
    message: string,
    readonly type: XnatErrorType,
    readonly retryable: boolean,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'XnatError';
  }
}

export interface XnatClientOptions {
  /** Per request, covering connect, answer and body (default 10 s). */
  timeoutMs?: number;
  /** Further tries of a request that may pass (default 2). */
  retries?: number;
  /** Wait before the first retry, doubled for each next one (default 500 ms). */
  backoffMs?: number;
}

/** How many requests the client made, and how many of them were logins (for the bench and the tests). */
export interface XnatRequestCounts {
  requests: number;
  logins: number;
}

/** XNAT's listings: {"ResultSet": {"Result": [...], "totalRecords": "N"}}; every value is text. */
const value = z.union([z.string(), z.number(), z.boolean(), z.null()]).optional();
const row = z.record(z.string(), value);
const resultSet = z.object({ ResultSet: z.object({ Result: z.array(row) }) });

type Row = z.infer<typeof row>;

const text = (v: Row[string]): string | undefined =>
  v === null || v === undefined || v === '' ? undefined : String(v);

/** Experiments: the columns the client asks for (XNAT's own shortcuts; insert_date and last_modified for the sync). */
const EXPERIMENT_COLUMNS = 'ID,label,project,date,xsiType,insert_date,last_modified';

export class XnatClient {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  /** Per server and account: the JSESSIONID of its login, or the login under way. */
  private readonly sessions = new Map<string, Promise<string>>();
  readonly counts: XnatRequestCounts = { requests: 0, logins: 0 };

  constructor(options: XnatClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = options.retries ?? 2;
    this.backoffMs = options.backoffMs ?? 500;
  }

  /**
   * The project's experiments whose label may match `patterns` (XNAT's `label` filter: `*` is a wildcard, and so is
   * `_` under it; XNAT compares the label the experiment has in its own project). With `shared`, the filter is on
   * the labels of the experiments shared into the project instead. The caller matches the labels exactly.
   */
  async experimentsLabelled(
    endpoint: XnatEndpoint,
    project: string,
    patterns: string[],
    options: { shared?: boolean } = {},
  ): Promise<XnatExperiment[]> {
    const filter = options.shared ? 'xnat:experimentData/sharing/share/label' : 'label';
    return this.experiments(endpoint, project, { [filter]: patterns.join(',') });
  }

  /**
   * Every experiment of the project, with its insert and last-modified times. XNAT's own date filters split their
   * value at the first "-" (a range), which an ISO date has: the sync filters on its side.
   */
  async listExperiments(endpoint: XnatEndpoint, project: string): Promise<XnatExperiment[]> {
    return this.experiments(endpoint, project, {});
  }

  /** The scans of an experiment, by its accession id (GET data/experiments/{id}/scans). */
  async listScans(endpoint: XnatEndpoint, experimentId: string): Promise<XnatScan[]> {
    const what = `the scans of experiment ${experimentId}`;
    const rows = await this.listing(endpoint, `data/experiments/${encodeURIComponent(experimentId)}/scans`, {}, what);
    return rows.map((scan, i) => ({
      id: required(scan, 'ID', what, i),
      type: text(scan.type),
      seriesDescription: text(scan.series_description),
      quality: text(scan.quality),
    }));
  }

  /** The sessions in the project's prearchive (GET data/prearchive/projects/{project}). */
  async listPrearchive(endpoint: XnatEndpoint, project: string): Promise<XnatPrearchiveEntry[]> {
    const what = `the prearchive of project ${project}`;
    const rows = await this.listing(endpoint, `data/prearchive/projects/${encodeURIComponent(project)}`, {}, what);
    return rows.map((entry, i) => ({
      name: required(entry, 'name', what, i),
      subject: text(entry.subject),
      status: text(entry.status),
      uploaded: text(entry.uploaded),
      lastmod: text(entry.lastmod),
      scanDate: text(entry.scan_date),
    }));
  }

  private async experiments(
    endpoint: XnatEndpoint,
    project: string,
    filters: Record<string, string>,
  ): Promise<XnatExperiment[]> {
    const what = `the experiments of project ${project}`;
    const rows = await this.listing(
      endpoint,
      `data/projects/${encodeURIComponent(project)}/experiments`,
      { columns: EXPERIMENT_COLUMNS, ...filters },
      what,
    );
    return rows.map((experiment, i) => ({
      id: required(experiment, 'ID', what, i),
      label: required(experiment, 'label', what, i),
      project: text(experiment.project) ?? project,
      date: text(experiment.date),
      xsiType: text(experiment.xsiType),
      insertDate: text(experiment.insert_date),
      lastModified: text(experiment.last_modified),
    }));
  }

  /** GET a JSON listing: its rows, or an XnatError naming what was asked and what came back. */
  private async listing(
    endpoint: XnatEndpoint,
    path: string,
    params: Record<string, string>,
    what: string,
  ): Promise<Row[]> {
    const answer = await this.get(endpoint, path, { format: 'json', ...params }, what);
    const parsed = resultSet.safeParse(answer);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new XnatError(
        `XNAT answered the request for ${what} with JSON that is not an XNAT listing ` +
          `(${issue.path.join('.') || 'the answer'}: ${issue.message}; expected {"ResultSet": {"Result": [...]}})`,
        'XnatBadResponse',
        true,
      );
    }
    return parsed.data.ResultSet.Result;
  }

  /** One GET with the session cookie; a 401 (or a login page) means the session ended: one new login, once. */
  private async get(endpoint: XnatEndpoint, path: string, params: Record<string, string>, what: string) {
    const url = `${base(endpoint)}${path}?${new URLSearchParams(params)}`;
    for (let loggedInAgain = false; ; loggedInAgain = true) {
      const login = this.session(endpoint);
      const answer = await this.send(endpoint, url, { headers: { cookie: `JSESSIONID=${await login}` } }, what);
      const ended = answer.status === 401 || (isOk(answer.status) && isLoginPage(answer));
      if (!ended) return this.json(endpoint, answer, what);
      // Forget this login only: another request may have logged in again meanwhile.
      const key = accountKey(endpoint);
      if (this.sessions.get(key) === login) this.sessions.delete(key);
      if (loggedInAgain) {
        throw new XnatError(
          `XNAT refused the request for ${what} just after a new login of user ${endpoint.user} (check the user's access)`,
          'XnatLoginFailed',
          false,
          { status: answer.status },
        );
      }
    }
  }

  /** The JSESSIONID for the endpoint: the one of its last login, or a new login (one at a time per account). */
  private session(endpoint: XnatEndpoint): Promise<string> {
    const key = accountKey(endpoint);
    let login = this.sessions.get(key);
    if (!login) {
      login = this.login(endpoint);
      this.sessions.set(key, login);
      const failed = login;
      failed.catch(() => {
        if (this.sessions.get(key) === failed) this.sessions.delete(key);
      });
    }
    return login;
  }

  /**
   * POST data/JSESSION with basic auth. XNAT answers the session id as text and sets the JSESSIONID cookie; with an
   * expired password it answers 200 with its HTML login page instead.
   */
  private async login(endpoint: XnatEndpoint): Promise<string> {
    this.counts.logins += 1;
    const what = `the login of user ${endpoint.user}`;
    const authorization = `Basic ${Buffer.from(`${endpoint.user}:${endpoint.password}`).toString('base64')}`;
    const answer = await this.send(
      endpoint,
      `${base(endpoint)}data/JSESSION`,
      { method: 'POST', headers: { authorization } },
      what,
    );
    const failed = (why: string, status = answer.status) =>
      new XnatError(`XNAT login failed at ${base(endpoint)}: ${why}`, 'XnatLoginFailed', false, { status });
    if (answer.status === 401 || answer.status === 403) {
      throw failed(`user ${endpoint.user} was refused (${answer.status}); check the user and password`);
    }
    if (!isOk(answer.status)) throw this.statusError(endpoint, answer, what);
    if (isHtml(answer)) {
      throw failed(
        `XNAT answered ${answer.status} with an HTML page instead of a session: the password of user ${endpoint.user} ` +
          'has probably expired (log in to XNAT in a browser to renew it, then update the password in the config)',
      );
    }
    const cookie = answer.setCookie
      .map((header) => /^JSESSIONID=([^;]*)/.exec(header)?.[1])
      .find((id) => id !== undefined && id !== '');
    const session = cookie ?? answer.body.trim();
    if (!/^[A-Za-z0-9._~-]{8,256}$/.test(session)) {
      throw new XnatError(
        `XNAT login at ${base(endpoint)}: the answer (${answer.status}) holds no session id`,
        'XnatBadResponse',
        true,
        { status: answer.status },
      );
    }
    return session;
  }

  private json(endpoint: XnatEndpoint, answer: Answer, what: string): unknown {
    if (!isOk(answer.status)) throw this.statusError(endpoint, answer, what);
    try {
      return JSON.parse(answer.body) as unknown;
    } catch {
      throw new XnatError(
        `XNAT answered the request for ${what} (${answer.status}${answer.type ? `, ${answer.type}` : ''}) with something ` +
          `other than JSON: ${excerpt(endpoint, answer.body)}`,
        'XnatBadResponse',
        true,
        { status: answer.status },
      );
    }
  }

  private statusError(endpoint: XnatEndpoint, answer: Answer, what: string): XnatError {
    const { status } = answer;
    const said = excerpt(endpoint, answer.body);
    const detail = `XNAT answered ${status} to the request for ${what}${said ? `: ${said}` : ''}`;
    if (status >= 300 && status < 400) {
      return new XnatError(
        `${detail} (a redirect, not followed: set the XNAT config's url to XNAT's own base URL, e.g. with https://)`,
        'XnatRedirected',
        false,
        { status },
      );
    }
    if (status === 403)
      return new XnatError(`${detail} (user ${endpoint.user} may not read it)`, 'XnatAccessDenied', false, { status });
    if (status === 404) return new XnatError(detail, 'XnatNotFound', false, { status });
    if (retryableStatus(status)) return new XnatError(detail, 'XnatUnavailable', true, { status });
    return new XnatError(detail, 'XnatBadRequest', false, { status });
  }

  /** One request to the configured server, tried again with backoff while it may pass. */
  private async send(
    endpoint: XnatEndpoint,
    url: string,
    init: { method?: string; headers: Record<string, string> },
    what: string,
  ): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.counts.requests += 1;
        const response = await fetch(url, {
          method: init.method ?? 'GET',
          headers: { accept: 'application/json', ...init.headers },
          redirect: 'manual',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const answer: Answer = {
          status: response.status,
          type: response.headers.get('content-type') ?? '',
          setCookie: response.headers.getSetCookie(),
          body: await response.text(),
        };
        if (!retryableStatus(answer.status) || attempt >= this.retries) return answer;
      } catch (err) {
        if (attempt >= this.retries) {
          // By name: the DOMException of AbortSignal.timeout may come from another realm.
          const name = (err as { name?: unknown })?.name;
          const failure =
            name === 'TimeoutError' || name === 'AbortError'
              ? `gave no answer within ${this.timeoutMs / 1000} s`
              : `could not be reached (${networkReason(err)})`;
          throw new XnatError(
            `XNAT at ${base(endpoint)} ${failure} (${what}; ${attempt + 1} tries)`,
            'XnatUnavailable',
            true,
          );
        }
      }
      await new Promise((resolve) => setTimeout(resolve, this.backoffMs * 2 ** attempt));
    }
  }
}

interface Answer {
  status: number;
  type: string;
  setCookie: string[];
  body: string;
}

/** The base URL every request goes under: the configured one, ending with '/'. */
function base(endpoint: XnatEndpoint): string {
  return normalizeServerUrl(endpoint.url);
}

function accountKey(endpoint: XnatEndpoint): string {
  return JSON.stringify([base(endpoint), endpoint.user, endpoint.password]);
}

const isOk = (status: number) => status >= 200 && status < 300;
const retryableStatus = (status: number) => status === 429 || status === 408 || status >= 500;

function isHtml(answer: Answer): boolean {
  return /html/i.test(answer.type) || /^\s*(<!doctype html|<html)/i.test(answer.body);
}

/** XNAT's login page, which some XNATs answer (200) to a request whose session has ended. */
function isLoginPage(answer: Answer): boolean {
  return isHtml(answer) && /<form[^>]*login|name=["']?(j_)?password/i.test(answer.body);
}

function required(record: Row, key: string, what: string, index: number): string {
  const found = text(record[key]);
  if (found === undefined) {
    throw new XnatError(
      `XNAT answered the request for ${what} with a row without ${key} (row ${index + 1})`,
      'XnatBadResponse',
      true,
    );
  }
  return found;
}

/** The start of an answer's body, on one line, without markup or secrets. */
function excerpt(endpoint: XnatEndpoint, body: string): string {
  const plain = body
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return plain.split(endpoint.password).join('[redacted]').slice(0, 200);
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
