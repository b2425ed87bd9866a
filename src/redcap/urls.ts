/**
 * REDCap's URLs. Pure code.
 * - normalizeRedcapUrl: the one form of a REDCap base URL that we store (config apply) and compare (the DET's
 *   redcap_url).
 * - redcapVersionOf: REDCap's version in a DET's project_url.
 * - redcapRecordUrl: the data entry page of a record (GET /redcap_redirect/:recordId and the monitors' emails).
 */

/**
 * The URL parser's form (host lower-cased, default port dropped, path percent-encoded), no query or fragment,
 * ending with exactly one '/'. Text that is no URL is only trimmed and given its '/': it then matches no config.
 */
export function normalizeRedcapUrl(value: string): string {
  let href: string;
  try {
    const url = new URL(value.trim());
    url.hash = '';
    url.search = '';
    href = url.href;
  } catch {
    href = value.trim();
  }
  return `${href.replace(/\/+$/, '')}/`;
}

/** The version in REDCap's version directory, e.g. 14.6.4 in https://redcap.example.org/redcap_v14.6.4/index.php?pid=1234. */
export function redcapVersionOf(projectUrl: string): string | undefined {
  return /\/redcap_v(\d{1,4}(?:\.\d{1,4}){0,3})\//i.exec(projectUrl)?.[1];
}

export interface RecordLocation {
  /** `detVersion`, the version of the config's latest trigger, wins over the configured `version`. */
  config: { url: string; version: string; detVersion?: string | null; project: number; instrument: string };
  record: string;
  eventId?: number | null;
  /** The repeat instance; 0, null or absent for a form that does not repeat. */
  instance?: number | null;
}

/** e.g. https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234&id=17&page=mri_scan_log[&instance=2] */
export function redcapRecordUrl({ config, record, eventId, instance }: RecordLocation): string {
  const base = config.url.endsWith('/') ? config.url : `${config.url}/`;
  const query = new URLSearchParams({ pid: String(config.project), id: record });
  if (eventId !== undefined && eventId !== null) query.set('event_id', String(eventId));
  query.set('page', config.instrument);
  if (instance) query.set('instance', String(instance));
  return `${base}redcap_v${config.detVersion || config.version}/DataEntry/index.php?${query.toString()}`;
}

/** The project's Record Status Dashboard: where a person sees the records of a project at once. */
export function redcapDashboardUrl(config: RecordLocation['config']): string {
  const base = config.url.endsWith('/') ? config.url : `${config.url}/`;
  return `${base}redcap_v${config.detVersion || config.version}/DataEntry/record_status_dashboard.php?pid=${config.project}`;
}
