/** GET /lab/: the studies the viewer sees, with what needs a person in each. */
import type { OutstandingKind } from '../../lab-data/outstanding';
import type { StudySummary } from '../reads';
import { Layout, Table, type PageContext } from './parts';

export function StudiesPage(props: {
  page: PageContext;
  studies: StudySummary[];
  /** Per study: its outstanding work, counted by kind. */
  outstanding: Map<string, Record<OutstandingKind, number>>;
}) {
  return (
    <Layout page={props.page} title="Studies">
      {props.studies.length === 0 ? (
        <p>No study to show: the lab config lists none, or none for you.</p>
      ) : (
        <Table
          label="Studies"
          columns={['Study', 'Sites', '#Sessions', '#Missing scans', '#Without REDCap', '#Problems', '#Quiet sites']}
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
                <Count n={counts?.['missing-scans']} />
                <Count n={counts?.['no-redcap-record']} />
                <Count n={counts?.problem} />
                <Count n={counts?.['quiet-site']} />
              </tr>
            );
          })}
        </Table>
      )}
    </Layout>
  );
}

/** A count that needs a person says so with an icon too, not only with its number and colour. */
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
