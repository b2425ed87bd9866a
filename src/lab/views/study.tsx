/**
 * GET /lab/studies/:studyId: what needs a person (the outstanding table, and its CSV), per site the latest record and
 * scan, the weekly picture, the newest sessions, and for admins the form that pulls a REDCap record.
 */
import type { SessionRow } from '../../lab-data/list';
import type { Outstanding } from '../../lab-data/outstanding';
import type { RedcapConfigChoice, SiteActivity, WeekCount } from '../reads';
import {
  ActionForm,
  DateTime,
  Day,
  Layout,
  OutstandingBadge,
  RecordName,
  StateBadge,
  Table,
  type PageContext,
} from './parts';
import { WeeklyChart } from './weekly-chart';

export interface StudyPageData {
  study: { id: string; name: string };
  outstanding: Outstanding;
  sites: SiteActivity[];
  weeks: WeekCount[];
  sessions: SessionRow[];
  /** The REDCap projects a pull may name. */
  configs: RedcapConfigChoice[];
}

export function StudyPage({ page, data }: { page: PageContext; data: StudyPageData }) {
  const { study } = data;
  const base = `/lab/studies/${encodeURIComponent(study.id)}`;
  return (
    <Layout page={page} title={`${study.id}: ${study.name}`} breadcrumbs={[{ href: '/lab/', label: 'Studies' }]}>
      <h2>What needs a person</h2>
      <OutstandingTable outstanding={data.outstanding} />
      <p>
        <a href={`${base}/outstanding.csv`} download>
          The same as CSV
        </a>{' '}
        <small>(for a spreadsheet: one row each, oldest first)</small>
      </p>

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
              <td>{session.siteId ?? '—'}</td>
              <td>{session.date ?? '—'}</td>
              <td>
                <StateBadge state={session.state} />
              </td>
              <td>
                {session.redcapRecordId === null ? (
                  '—'
                ) : (
                  <a href={`/redcap_redirect/${session.redcapRecordId}`}>record</a>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}

      {page.viewer?.canAct && <PullForm page={page} studyId={study.id} configs={data.configs} />}
    </Layout>
  );
}

function OutstandingTable({ outstanding }: { outstanding: Outstanding }) {
  if (outstanding.items.length === 0)
    return <p>Nothing: every session has its scans and its REDCap record, no intake failed, and no site is quiet.</p>;
  return (
    <Table
      label="What needs a person"
      columns={['What', 'Session', 'Site', 'Scan date', 'Since', '#Days', 'REDCap record', 'Reason']}
    >
      {outstanding.items.map((item, i) => (
        <tr key={i}>
          <td>
            <OutstandingBadge kind={item.kind} />
          </td>
          <th scope="row">{item.sessionId ? <SessionLink id={item.sessionId} /> : '—'}</th>
          <td>{item.siteId ?? '—'}</td>
          <td>{item.date ?? '—'}</td>
          <td>
            <DateTime at={item.since} />
          </td>
          <td data-number>{item.ageDays}</td>
          <td>
            <RecordName name={item.recordName} href={item.record} />
          </td>
          <td>{item.reason ?? '—'}</td>
        </tr>
      ))}
    </Table>
  );
}

/** Pulling a record whose Data Entry Trigger never came: the intake its trigger would have started. */
function PullForm({ page, studyId, configs }: { page: PageContext; studyId: string; configs: RedcapConfigChoice[] }) {
  return (
    <section aria-labelledby="pull">
      <h2 id="pull">Pull a REDCap record</h2>
      <p>
        For a record saved in REDCap whose Data Entry Trigger never came (an import, a trigger URL typed wrong, the
        service down): this starts the intake its trigger would have started, and files it now.
      </p>
      {configs.length === 0 ? (
        <p>No REDCap project files its records to this study.</p>
      ) : (
        <ActionForm page={page} action="/lab/pull" button="Pull the record">
          <input type="hidden" name="study" value={studyId} />
          <label>
            REDCap project
            <select name="config" required>
              {configs.map((config) => (
                <option key={config.id} value={String(config.id)}>
                  {`project ${config.project}, ${config.instrument} (${config.url})`}
                </option>
              ))}
            </select>
          </label>
          <label>
            Record
            <input name="record" required maxLength={200} />
          </label>
          <label>
            Event <small>(longitudinal projects)</small>
            <input name="event" maxLength={100} />
          </label>
          <label>
            Instance <small>(repeating forms)</small>
            <input name="instance" inputMode="numeric" pattern="[0-9]*" />
          </label>
        </ActionForm>
      )}
    </section>
  );
}

export const SessionLink = ({ id }: { id: string }) => <a href={`/lab/sessions/${encodeURIComponent(id)}`}>{id}</a>;
