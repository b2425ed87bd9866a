/**
 * REDCap's URLs. Pure code.
 * - normalizeRedcapUrl: the one form of a REDCap base URL that we store (config apply) and compare (the DET's
 *   redcap_url).
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

export interface RecordLocation {
  config: { url: string; version: string; project: number; instrument: string };
  record: string;
  eventId?: number | null;
}

/** e.g. https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234&id=17&page=mri_scan_log */
export function redcapRecordUrl({ config, record, eventId }: RecordLocation): string {
  const base = config.url.endsWith('/') ? config.url : `${config.url}/`;
  const query = new URLSearchParams({ pid: String(config.project), id: record });
  if (eventId !== undefined && eventId !== null) query.set('event_id', String(eventId));
  query.set('page', config.instrument);
  return `${base}redcap_v${config.version}/DataEntry/index.php?${query.toString()}`;
}
