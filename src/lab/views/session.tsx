/**
 * GET /lab/sessions/:sessionId: its state, REDCap record (linked through /redcap_redirect), scans, what XNAT said,
 * problems about it, its dismissals, each monitor's state and next check, the emails sent about it, the forms that
 * dismiss, cancel and undo, and the way to its workflows in the Temporal Web UI.
 */
import type { DismissalKind, ProblemKind } from '../../db/lab-data';
import type { XnatStateName } from '../../db/xnat';
import { NO_SCANS_EXPECTED_REASON } from '../../lab-data/dismissals';
import type { SessionProblem } from '../../lab-data/problems';
import type { SessionView } from '../../sessions/view';
import type { MonitorView } from '../../temporal/monitors';
import type { EmailSent } from '../reads';
import {
  ActionForm,
  DateTime,
  Day,
  dismissalWords,
  Layout,
  RecordName,
  Notice,
  StateBadge,
  Table,
  type PageContext,
} from './parts';

export interface SessionPageData {
  view: SessionView;
  /** The open problems pinned on it. */
  problems: SessionProblem[];
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
          <StateBadge state={view.state} />
          {view.outstandingSince && (
            <>
              {' '}
              <small>since</small> <DateTime at={view.outstandingSince} now={page.now} />
            </>
          )}
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

      {data.problems.length > 0 && <Problems problems={data.problems} now={page.now} />}

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
      {view.xnat && <Xnat xnat={view.xnat} now={page.now} />}

      <h2>Dismissals</h2>
      <Dismissals page={page} base={base} dismissals={view.dismissals} />

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
      {page.viewer?.canAct ? (
        <Actions page={page} base={base} view={view} />
      ) : (
        <p>You may look at this session; an admin acts on it.</p>
      )}
    </Layout>
  );
}

const PROBLEM_WORDS: Record<ProblemKind, string> = {
  'intake-failed': 'its REDCap record could not be filed',
  'invalid-session-id': 'a session id that fits no convention',
};

function Problems({ problems, now }: { problems: SessionProblem[]; now: Date }) {
  return (
    <section aria-labelledby="problems">
      <h2 id="problems">Problems</h2>
      <Table label="Problems" columns={['What', 'REDCap record', 'Reason', 'Since', 'Last']}>
        {problems.map((problem, i) => (
          <tr key={i}>
            <td>
              <span data-state="problem">
                <span aria-hidden="true">✕</span> {PROBLEM_WORDS[problem.kind]}
              </span>
            </td>
            <td>
              <RecordName name={problem.recordName} href={problem.record} />
            </td>
            <td>{problem.reason}</td>
            <td>
              <DateTime at={problem.since} now={now} />
            </td>
            <td>
              <DateTime at={problem.last} />
            </td>
          </tr>
        ))}
      </Table>
    </section>
  );
}

const XNAT_WORDS: Record<XnatStateName, string> = {
  archived: 'archived',
  prearchive: 'in the prearchive',
  absent: 'not in XNAT',
  unreachable: 'could not be asked',
};

function Xnat({ xnat, now }: { xnat: NonNullable<SessionView['xnat']>; now: Date }) {
  return (
    <section aria-labelledby="xnat">
      <h2 id="xnat">XNAT</h2>
      <dl>
        <dt>State</dt>
        <dd>
          {XNAT_WORDS[xnat.state]}
          {xnat.since && (
            <>
              {' '}
              <small>since</small> <DateTime at={xnat.since} now={now} />
            </>
          )}
        </dd>
        {xnat.scans !== undefined && (
          <>
            <dt>Scans there</dt>
            <dd>{xnat.scans}</dd>
          </>
        )}
        {xnat.reason && (
          <>
            <dt>Why</dt>
            <dd>{xnat.reason}</dd>
          </>
        )}
        <dt>Asked</dt>
        <dd>
          <DateTime at={xnat.checkedAt} now={now} />
        </dd>
      </dl>
    </section>
  );
}

function Dismissals(props: { page: PageContext; base: string; dismissals: SessionView['dismissals'] }) {
  if (props.dismissals.length === 0) return <p>None: nobody has said that something of it will not come.</p>;
  const canAct = props.page.viewer?.canAct;
  return (
    <Table label="Dismissals" columns={['Dismissed as', 'Comment', 'By', 'When', ...(canAct ? [''] : [])]}>
      {props.dismissals.map((dismissal) => (
        <tr key={dismissal.kind}>
          <th scope="row">{dismissalWords(dismissal.kind)}</th>
          <td>{dismissal.comment}</td>
          <td>{dismissal.by}</td>
          <td>
            <DateTime at={dismissal.at} now={props.page.now} />
          </td>
          {canAct && (
            <td>
              <ActionForm
                page={props.page}
                action={`${props.base}/dismissals/${dismissal.kind}/undo`}
                button={`Undo “${dismissalWords(dismissal.kind)}”`}
              />
            </td>
          )}
        </tr>
      ))}
    </Table>
  );
}

/** The dismissal forms (what is missing and not dismissed yet), then the cancel or its undo. */
function Actions({ page, base, view }: { page: PageContext; base: string; view: SessionView }) {
  const dismissed = (kind: DismissalKind) => view.dismissals.some((dismissal) => dismissal.kind === kind);
  const cancelledByDismissal =
    dismissed('no-scans-expected') && view.monitorsCancelled?.reason === NO_SCANS_EXPECTED_REASON;
  return (
    <>
      {view.scans.length === 0 && !dismissed('no-scans-expected') && (
        <DismissForm
          page={page}
          base={base}
          kind="no-scans-expected"
          label="Why will no scans come?"
          button="Dismiss: no scans expected"
          effect="Its monitors end without email, and it leaves what needs a person."
        />
      )}
      {!view.redcapRecord && !dismissed('no-redcap-expected') && (
        <DismissForm
          page={page}
          base={base}
          kind="no-redcap-expected"
          label="Why will no REDCap record come?"
          button="Dismiss: no REDCap record expected"
          effect="It leaves what needs a person."
        />
      )}
      {cancelledByDismissal ? (
        <p>Its monitoring ended with the dismissal “no scans expected”: undo that to start its monitors again.</p>
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
    </>
  );
}

function DismissForm(props: {
  page: PageContext;
  base: string;
  kind: DismissalKind;
  label: string;
  button: string;
  effect: string;
}) {
  return (
    <ActionForm page={props.page} action={`${props.base}/dismissals`} button={props.button}>
      <input type="hidden" name="kind" value={props.kind} />
      <label>
        {props.label} <small>(required: it is kept with the dismissal. {props.effect})</small>
        <textarea name="comment" required maxLength={2000} rows={2} />
      </label>
    </ActionForm>
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
  'redcap-record': 'REDCap record check (XNAT)',
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
