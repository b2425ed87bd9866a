/** GET /lab/studies/:studyId: per site the latest record and scan, the weekly picture, the newest sessions. */
import type { SiteActivity, WeekCount } from '../reads';
import type { SessionRow } from '../stand-ins';
import { DateTime, Day, Layout, StateBadge, Table, type PageContext } from './parts';
import { WeeklyChart } from './weekly-chart';

export interface StudyPageData {
  study: { id: string; name: string };
  sites: SiteActivity[];
  weeks: WeekCount[];
  sessions: SessionRow[];
}

export function StudyPage({ page, data }: { page: PageContext; data: StudyPageData }) {
  const { study } = data;
  return (
    <Layout page={page} title={`${study.id}: ${study.name}`} breadcrumbs={[{ href: '/lab/', label: 'Studies' }]}>
      <h2>Sites</h2>
      {data.sites.length === 0 ? (
        <p>No site runs this study yet (the lab config lists none).</p>
      ) : (
        <Table label="Sites" columns={['Site', 'Last REDCap record (scan date)', 'Last scan arrived']}>
          {data.sites.map((site) => (
            <tr key={site.siteId}>
              <th scope="row">{site.siteId}</th>
              <td>
                {site.lastRecord ? (
                  <>
                    <SessionLink id={site.lastRecord.sessionId} />, <Day date={site.lastRecord.date} now={page.now} />
                  </>
                ) : site.usesRedcap ? (
                  'none yet'
                ) : (
                  'does not use REDCap'
                )}
              </td>
              <td>
                {site.lastScan ? (
                  <>
                    <SessionLink id={site.lastScan.sessionId} />, <DateTime at={site.lastScan.at} now={page.now} />
                  </>
                ) : (
                  'none yet'
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}

      <h2>Records and scans per week</h2>
      <WeeklyChart counts={data.weeks} sites={data.sites.map((site) => site.siteId)} />

      <h2>Newest sessions</h2>
      {data.sessions.length === 0 ? (
        <p>No session yet.</p>
      ) : (
        <Table label="Newest sessions" columns={['Session', 'Site', 'Scan date', 'State', 'REDCap']}>
          {data.sessions.map((session) => (
            <tr key={session.sessionId}>
              <th scope="row">
                <SessionLink id={session.sessionId} />
              </th>
              <td>{session.siteId}</td>
              <td>{session.date ?? '—'}</td>
              <td>
                <StateBadge state={session.state} />
              </td>
              <td>{session.recordId === null ? '—' : <a href={`/redcap_redirect/${session.recordId}`}>record</a>}</td>
            </tr>
          ))}
        </Table>
      )}
    </Layout>
  );
}

export const SessionLink = ({ id }: { id: string }) => <a href={`/lab/sessions/${encodeURIComponent(id)}`}>{id}</a>;
