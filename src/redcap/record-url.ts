/**
 * The data entry page of a REDCap record (contract: GET /redcap_redirect/:recordId), e.g.
 * https://redcap.example.org/redcap_v14.5.2/DataEntry/index.php?pid=1234&id=17&page=mri_scan_log
 * Pure code: used by the redirect route and by the monitors' emails.
 */
export interface RecordLocation {
  config: { url: string; version: string; project: number; instrument: string };
  record: string;
  eventId?: number | null;
}

export function redcapRecordUrl({ config, record, eventId }: RecordLocation): string {
  const base = config.url.endsWith('/') ? config.url : `${config.url}/`;
  const query = new URLSearchParams({ pid: String(config.project), id: record });
  if (eventId !== undefined && eventId !== null) query.set('event_id', String(eventId));
  query.set('page', config.instrument);
  return `${base}redcap_v${config.version}/DataEntry/index.php?${query.toString()}`;
}
