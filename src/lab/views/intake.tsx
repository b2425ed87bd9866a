/** GET /lab/intakes/:workflowId: what became of a pulled record's intake, with the session it filed. */
import type { SessionView } from '../../sessions/view';
import type { IntakeOutcome } from '../../temporal/intakes';
import { Layout, type PageContext } from './parts';
import { SessionLink } from './study';

export function IntakePage(props: {
  page: PageContext;
  study: { id: string; name: string };
  workflowId: string;
  outcome: IntakeOutcome;
  /** The session it filed (visible to the viewer), once it did. */
  filed: SessionView | null;
  workflowsUrl: string;
}) {
  const { outcome, study } = props;
  const studyUrl = `/lab/studies/${encodeURIComponent(study.id)}`;
  const again = `/lab/intakes/${encodeURIComponent(props.workflowId)}?study=${encodeURIComponent(study.id)}`;
  return (
    <Layout
      page={props.page}
      title="A pulled REDCap record"
      breadcrumbs={[
        { href: '/lab/', label: 'Studies' },
        { href: studyUrl, label: study.id },
      ]}
    >
      <p role="status">
        {outcome.status === 'filed' && props.filed ? (
          <>
            <span aria-hidden="true">✓</span> Filed: session <SessionLink id={props.filed.sessionId} /> (
            {outcome.result.change}
            {outcome.result.movedFrom ? `, moved from ${outcome.result.movedFrom}` : ''})
            {outcome.result.monitors ? '; its monitors started' : ''}
          </>
        ) : outcome.status === 'failed' ? (
          <>
            <span aria-hidden="true">✕</span> The intake failed: {outcome.reason}
          </>
        ) : outcome.status === 'ended' ? (
          <>The intake ended without filing the record ({outcome.how}).</>
        ) : (
          <>
            <span aria-hidden="true">◷</span> Still running (is a worker running?). <a href={again}>Look again</a>
          </>
        )}
      </p>
      <dl>
        <dt>Intake</dt>
        <dd>
          <code>{props.workflowId}</code> <a href={props.workflowsUrl}>(in the Temporal Web UI)</a>
        </dd>
      </dl>
      <p>
        <a href={studyUrl}>Back to {study.id}</a>
      </p>
    </Layout>
  );
}
