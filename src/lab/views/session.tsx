/**
 * GET /lab/sessions/:sessionId: its REDCap record (linked through /redcap_redirect), scans, each monitor's state
 * and next check, the emails sent about it, its cancel, and the way to its workflows in the Temporal Web UI.
 */
import type { SessionView } from '../../sessions/view';
import type { MonitorView } from '../../temporal/monitors';
import type { EmailSent } from '../reads';
import type { SessionState } from '../stand-ins';
import { ActionForm, DateTime, Day, Layout, Notice, StateBadge, Table, type PageContext } from './parts';

export interface SessionPageData {
  view: SessionView;
  state: SessionState;
  /** The monitors, or why Temporal could not say. */
  monitors: MonitorView[] | { unavailable: string };
  emails: EmailSent[];
  /** The session's workflows in the Temporal Web UI (filtered by SessionId). */
  workflowsUrl: string;
}

export function SessionPage(props: { page: PageContext; data: SessionPageData; notice?: string }) {
  const { page, data } = props;
  const { view } = data;
  const base = `/lab/sessions/${encodeURIComponent(view.sessionId)}`;
  return (
    <Layout
      page={page}
      title={view.sessionId}
      breadcrumbs={[
        { href: '/lab/', label: 'Studies' },
        { href: `/lab/studies/${encodeURIComponent(view.study.id)}`, label: view.study.id },
      ]}
    >
      <Notice text={props.notice} />
      <dl>
        <dt>State</dt>
        <dd>
          <StateBadge state={data.state} />
        </dd>
        <dt>Study</dt>
        <dd>
          {view.study.id} <small>{view.study.name}</small>
        </dd>
        <dt>Site</dt>
        <dd>{view.site}</dd>
        <dt>Scan date</dt>
        <dd>{view.date ? <Day date={view.date} now={page.now} /> : 'not known'}</dd>
        {view.isPhantom && (
          <>
            <dt>Kind</dt>
            <dd>phantom</dd>
          </>
        )}
        <dt>Monitoring</dt>
        <dd>
          {view.monitorsCancelled ? (
            <>
              <strong>cancelled</strong> <DateTime at={view.monitorsCancelled.at} now={page.now} />
              {view.monitorsCancelled.reason && <>: {view.monitorsCancelled.reason}</>}
            </>
          ) : view.monitorsStartedAt ? (
            <>
              started <DateTime at={view.monitorsStartedAt} now={page.now} />
            </>
          ) : (
            'not started (no completed REDCap form yet)'
          )}
        </dd>
        {view.noScansExpected && (
          <>
            <dt>No scans expected</dt>
            <dd>{view.noScansExpected.comment}</dd>
          </>
        )}
      </dl>

      <section aria-labelledby="redcap">
        <h2 id="redcap">REDCap record</h2>
        {view.redcapRecord ? (
          <>
            <dl>
              <dt>Record</dt>
              <dd>
                <a href={view.redcapRecord.redirect}>{recordTitle(view.redcapRecord)}</a> <small>(opens REDCap)</small>
              </dd>
              <dt>Scan date</dt>
              <dd>{view.redcapRecord.entryDate}</dd>
              <dt>Entered by</dt>
              <dd>{view.redcapRecord.user ?? '—'}</dd>
              <dt>Comment</dt>
              <dd>{view.redcapRecord.comment || '—'}</dd>
            </dl>
          </>
        ) : (
          <p>No REDCap record is filed for this session.</p>
        )}
      </section>

      <h2>Scans</h2>
      {view.scans.length === 0 ? (
        <p>No scan has arrived.</p>
      ) : (
        <Table label="Scans" columns={['#Series', 'Name', 'Tag', 'Description', 'Arrived']}>
          {view.scans.map((scan) => (
            <tr key={scan.name}>
              <td data-number>{scan.series}</td>
              <td>{scan.name}</td>
              <td>{scan.tag}</td>
              <td>{scan.description ?? '—'}</td>
              <td>
                <DateTime at={scan.createdAt} />
              </td>
            </tr>
          ))}
        </Table>
      )}

      <h2>Monitors</h2>
      <Monitors monitors={data.monitors} now={page.now} />
      <p>
        <a href={data.workflowsUrl}>Its workflows in the Temporal Web UI</a>{' '}
        <small>
          (filter <code>{`SessionId="${view.sessionId}"`}</code>)
        </small>
      </p>

      <h2>Emails sent about it</h2>
      {data.emails.length === 0 ? (
        <p>None.</p>
      ) : (
        <Table label="Emails sent" columns={['Subject', 'To', 'Status', 'When']}>
          {data.emails.map((email, i) => (
            <tr key={i}>
              <td>{email.subject}</td>
              <td>{email.recipients.join(', ')}</td>
              <td>{email.status === 'sent' ? '✓ sent' : email.status === 'failed' ? '✕ failed' : '◷ sending'}</td>
              <td>
                <DateTime at={email.at} now={page.now} />
              </td>
            </tr>
          ))}
        </Table>
      )}

      <h2>Actions</h2>
      {!page.viewer?.canAct ? (
        <p>You may look at this session; an admin acts on it.</p>
      ) : view.monitorsCancelled ? (
        <ActionForm page={page} action={`${base}/cancel/undo`} button="Undo the cancel and start the monitors again" />
      ) : (
        <ActionForm page={page} action={`${base}/cancel`} button="Cancel its monitoring">
          <label>
            Reason <small>(optional)</small>
            <input name="reason" maxLength={1000} />
          </label>
        </ActionForm>
      )}
    </Layout>
  );
}

function recordTitle(record: NonNullable<SessionView['redcapRecord']>): string {
  const where = [record.event && `event ${record.event}`, record.instance && `instance ${record.instance}`].filter(
    Boolean,
  );
  return `Record ${record.record}${where.length > 0 ? ` (${where.join(', ')})` : ''}`;
}

const MONITOR_NAMES: Record<MonitorView['monitor'], string> = {
  'scan-import': 'Scan import check',
  'scan-download': 'Scan download',
};

function Monitors({ monitors, now }: { monitors: SessionPageData['monitors']; now: Date }) {
  if (!Array.isArray(monitors)) return <p role="alert">{monitors.unavailable}</p>;
  if (monitors.length === 0) return <p>No monitor has run for this session.</p>;
  return (
    <Table label="Monitors" columns={['Monitor', 'Workflow', 'State', 'Next check', 'Outcome']}>
      {monitors.map((monitor) => (
        <tr key={monitor.workflowId}>
          <th scope="row">{MONITOR_NAMES[monitor.monitor]}</th>
          <td>
            {monitor.status.toLowerCase().replace(/_/g, ' ')}
            <br />
            <small>{monitor.workflowId}</small>
          </td>
          <td>
            {monitor.state ?? '—'}
            {monitor.attempts !== undefined && <small> ({monitor.attempts} attempts)</small>}
            {monitor.queryError && <small> {monitor.queryError}</small>}
          </td>
          <td>{monitor.nextCheckAt ? <DateTime at={monitor.nextCheckAt} now={now} /> : '—'}</td>
          <td>
            {monitor.outcome ?? (monitor.failure ? `failed: ${monitor.failure}` : '—')}
            {monitor.cancelReason && <small> ({monitor.cancelReason})</small>}
          </td>
        </tr>
      ))}
    </Table>
  );
}
