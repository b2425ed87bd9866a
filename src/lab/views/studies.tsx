/** GET /lab/: the studies the viewer sees, with what needs a person in each. */
import type { StudySummary } from '../reads';
import type { OutstandingCounts } from '../stand-ins';
import { Layout, Table, type PageContext } from './parts';

export function StudiesPage(props: {
  page: PageContext;
  studies: StudySummary[];
  outstanding: Map<string, OutstandingCounts>;
}) {
  return (
    <Layout page={props.page} title="Studies">
      {props.studies.length === 0 ? (
        <p>No study to show: the lab config lists none, or none for you.</p>
      ) : (
        <Table
          label="Studies"
          columns={['Study', 'Sites', '#Sessions', '#Missing scans', '#Without REDCap', '#Problems']}
        >
          {props.studies.map((study) => {
            const counts = props.outstanding.get(study.id);
            return (
              <tr key={study.id}>
                <th scope="row">
                  <a href={`/lab/studies/${encodeURIComponent(study.id)}`}>{study.id}</a> <small>{study.name}</small>
                </th>
                <td>{study.sites.join(', ') || '—'}</td>
                <td data-number>{study.sessions}</td>
                <Count n={counts?.missingScans} />
                <Count n={counts?.noRedcapRecord} />
                <Count n={counts?.problems} />
              </tr>
            );
          })}
        </Table>
      )}
    </Layout>
  );
}

/** A count that needs a person says so in a word too, not only in its number. */
const Count = ({ n }: { n?: number }) => (
  <td data-number>
    {n ? (
      <span data-state="missing-scans">
        <span aria-hidden="true">⚠</span> {n}
      </span>
    ) : (
      <span>
        <span aria-hidden="true">✓</span> 0
      </span>
    )}
  </td>
);
