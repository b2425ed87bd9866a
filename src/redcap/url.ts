/**
 * The one form of a REDCap base URL that we store (config apply) and compare (the DET's redcap_url): the URL
 * parser's form (host lower-cased, default port dropped, path percent-encoded), no query or fragment, ending
 * with exactly one '/'. Text that is no URL is only trimmed and given its '/': it then matches no config.
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
