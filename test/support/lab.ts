/** A small lab in a test database: SPN01 at CMH (with job scripts) and ZHH, admins, a REDCap project, sessions. */
import { randomUUID } from 'node:crypto';
import { RedcapConfig, RedcapRecord, Scan, Site, Study, StudySite, User } from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { attachRedcapRecord, findOrCreateSession } from '../../src/sessions/domain';

export interface LabOptions {
  /** Users with admin: true and these addresses (default: ada@example.org). */
  admins?: string[];
  downloadScript?: string | null;
  postDownloadScript?: string | null;
}

export async function seedLab(orm: Orm, options: LabOptions = {}): Promise<{ redcapConfigId: number }> {
  const em = orm.em.fork();
  const study = em.create(Study, { id: 'SPN01', name: 'Social Processes Network' });
  const cmh = em.create(Site, { id: 'CMH' });
  const zhh = em.create(Site, { id: 'ZHH' });
  em.create(StudySite, {
    study,
    site: cmh,
    code: 'SPN01',
    usesRedcap: true,
    downloadScript: options.downloadScript === undefined ? 'download.sh' : options.downloadScript,
    postDownloadScript: options.postDownloadScript === undefined ? 'post_download.sh' : options.postDownloadScript,
  });
  em.create(StudySite, { study, site: zhh, code: 'SPN01', usesRedcap: true });
  (options.admins ?? ['ada@example.org']).forEach((email, i) =>
    em.create(User, { name: `Admin ${i + 1}`, email, admin: true }),
  );
  em.create(User, { name: 'Rui Assistant', email: 'rui@example.org', admin: false });
  const config = em.create(RedcapConfig, {
    url: 'https://redcap.example.org/',
    project: 1234,
    instrument: 'mri_scan_log',
    version: '14.5.2',
    token: 'not-a-real-token',
    sessionField: 'session_id',
    dateField: 'scan_date',
    commentField: 'comments',
    completedField: 'mri_scan_log_complete',
    completedValue: '2',
  });
  await em.flush();
  return { redcapConfigId: config.id };
}

let nextRecord = 1;

/**
 * A session id of this test file's own (e.g. SPN01_CMH_3FA20001_01_01): monitor ids (scan-import:<SESSION>)
 * are global on the suite's shared dev server, and files run side by side.
 */
const RUN = randomUUID().replace(/-/g, '').slice(0, 4).toUpperCase();
export function uniqueSessionId(site: string, n: number): string {
  return `SPN01_${site}_${RUN}${String(n).padStart(4, '0')}_01_01`;
}

/** A session logged in REDCap (so it misses its scans until one is added). */
export async function seedSession(
  orm: Orm,
  sessionId: string,
  options: { record?: boolean } = {},
): Promise<{ recordId: number | null }> {
  const em = orm.em.fork();
  const { session } = await findOrCreateSession(em, sessionId, '2026-11-20');
  if (options.record === false) return { recordId: null };
  const config = await em.findOneOrFail(RedcapConfig, { project: 1234 });
  const record = em.create(RedcapRecord, {
    config,
    record: String(nextRecord++),
    entryDate: '2026-11-20',
    sessionName: sessionId,
    comment: 'scanned',
  });
  await em.flush();
  await attachRedcapRecord(em, session, record);
  return { recordId: record.id };
}

export async function addScan(orm: Orm, sessionId: string, name = `${sessionId}_T1_01`): Promise<void> {
  const em = orm.em.fork();
  em.create(Scan, { session: sessionId, name, series: 1, tag: 'T1' });
  await em.flush();
}

/**
 * A new hour for the emails limited to one an hour per REDCap config (src/mail/throttle.ts): for a test whose own
 * failed intake must email, after earlier tests of its file used the hour.
 */
export async function freeEmailHour(orm: Orm): Promise<void> {
  await orm.em.fork().getConnection().execute('delete from email_throttle');
}
