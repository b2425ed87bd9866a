/**
 * The smallest lab as a config file (the `config apply` format): SPN01 at CMH (without job scripts, or with
 * download.sh and post_download.sh) and at ZHH (without), one admin, REDCap project 1234 (instrument
 * mri_scan_log) at `redcapUrl`. Applied through the real lab-config code.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { applyLabConfig, parseLabConfig } from '../../src/lab-config';

export function smallLabConfig(redcapUrl: string, token: string, options: { jobScripts?: boolean } = {}): string {
  const scripts = options.jobScripts
    ? '\n        downloadScript: download.sh\n        postDownloadScript: post_download.sh'
    : '';
  return `
studies:
  - id: SPN01
    name: Social Processes Network
    sites:
      - site: CMH
        usesRedcap: true${scripts}
      - site: ZHH
        usesRedcap: true
users:
  - name: Ada Admin
    email: ada@example.org
    admin: true
redcap:
  - url: ${redcapUrl}
    project: 1234
    instrument: mri_scan_log
    version: 14.5.2
    token: ${token}
    fields: { session: session_id, date: scan_date, comment: comments, user: ra_id, completed: mri_scan_log_complete, completedValue: "2" }
`;
}

export async function applySmallLab(
  em: EntityManager,
  redcapUrl: string,
  token: string,
  options: { jobScripts?: boolean } = {},
): Promise<void> {
  await applyLabConfig(em, parseLabConfig(smallLabConfig(redcapUrl, token, options)).config);
}

/** An `xnat:` section for a lab config: one server, its projects as `[XNAT project, study, site]`. */
export function xnatLabConfig(
  server: { url: string; user: string; password: string; timezone?: string },
  projects: Array<[string, string, string]>,
): string {
  const zone = server.timezone ? `\n    timezone: ${server.timezone}` : '';
  const entries = projects.map(
    ([project, study, site]) => `      - { project: ${project}, study: ${study}, site: ${site} }`,
  );
  return `
xnat:
  - url: ${server.url}
    user: ${server.user}
    password: ${server.password}${zone}
    projects:
${entries.join('\n')}
`;
}
