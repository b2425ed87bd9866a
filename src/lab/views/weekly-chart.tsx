/**
 * Records vs scans per week and site, as an inline SVG: per site, each week's sessions with a REDCap record (solid)
 * beside those with scans (hatched). A gap between the two is what a person looks for: scans that did not come, or
 * records nobody logged. The same figures follow in a table, for screen readers and for reading exact numbers.
 */
import type { WeekCount } from '../reads';
import { Table } from './parts';

const WIDTH = 720;
const LEFT = 56;
const PANEL = 96;
const BARS = 64;
const TOP = 28;

export function WeeklyChart({ counts, sites }: { counts: WeekCount[]; sites: string[] }) {
  const weeks = [...new Set(counts.map((c) => c.week))].sort();
  const byKey = new Map(counts.map((c) => [`${c.siteId} ${c.week}`, c]));
  const countOf = (site: string, week: string) => byKey.get(`${site} ${week}`);
  if (sites.length === 0 || weeks.length === 0) return <p>No site yet.</p>;
  const max = Math.max(1, ...counts.map((c) => Math.max(c.records, c.scans)));
  const slot = (WIDTH - LEFT - 8) / weeks.length;
  const bar = Math.max(2, slot / 2 - 3);
  const height = TOP + sites.length * PANEL + 8;
  const y = (n: number) => (n / max) * BARS;
  return (
    <figure>
      <svg
        viewBox={`0 0 ${WIDTH} ${height}`}
        width={WIDTH}
        height={height}
        role="img"
        aria-labelledby="weekly-title weekly-desc"
      >
        <title id="weekly-title">Sessions per week, by scan date: with a REDCap record and with scans, per site</title>
        <desc id="weekly-desc">
          {`The last ${weeks.length} weeks, from the week of ${weeks[0]}; the table below gives the same figures.`}
        </desc>
        <defs>
          <pattern id="scans-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
            <path d="M0 0V6" />
          </pattern>
        </defs>
        <g transform="translate(0 14)">
          <rect data-series="records" x={LEFT} y={-10} width={12} height={12} />
          <text x={LEFT + 18} y={0}>
            with a REDCap record
          </text>
          <rect data-series="scans" x={LEFT + 190} y={-10} width={12} height={12} />
          <text x={LEFT + 208} y={0}>
            with scans
          </text>
          <text x={WIDTH - 8} y={0} text-anchor="end">
            {`scale: 0 to ${max}`}
          </text>
        </g>
        {sites.map((site, i) => {
          const base = TOP + i * PANEL + BARS + 8;
          return (
            <g key={site}>
              <text x={4} y={base - BARS / 2}>
                {site}
              </text>
              <line x1={LEFT} x2={WIDTH - 8} y1={base} y2={base} />
              <line x1={LEFT} x2={WIDTH - 8} y1={base - BARS} y2={base - BARS} stroke-dasharray="2 4" />
              {weeks.map((week, w) => {
                const c = countOf(site, week);
                const x = LEFT + w * slot + 2;
                return (
                  <g key={week}>
                    <rect
                      data-series="records"
                      x={x}
                      y={base - y(c?.records ?? 0)}
                      width={bar}
                      height={y(c?.records ?? 0)}
                    >
                      <title>{`${site}, week of ${week}: ${c?.records ?? 0} with a REDCap record`}</title>
                    </rect>
                    <rect
                      data-series="scans"
                      x={x + bar + 1}
                      y={base - y(c?.scans ?? 0)}
                      width={bar}
                      height={y(c?.scans ?? 0)}
                    >
                      <title>{`${site}, week of ${week}: ${c?.scans ?? 0} with scans`}</title>
                    </rect>
                    {w % 2 === weeks.length % 2 && (
                      <text x={x + bar} y={base + 14} text-anchor="middle">
                        {week.slice(5)}
                      </text>
                    )}
                  </g>
                );
              })}
            </g>
          );
        })}
      </svg>
      <details>
        <summary>The figures</summary>
        <Table
          label="Sessions per week and site"
          columns={['Week of', ...sites.map((site) => `#${site}: records / scans`)]}
        >
          {weeks.map((week) => (
            <tr key={week}>
              <th scope="row">{week}</th>
              {sites.map((site) => {
                const c = countOf(site, week);
                return (
                  <td key={site} data-number>
                    {`${c?.records ?? 0} / ${c?.scans ?? 0}`}
                  </td>
                );
              })}
            </tr>
          ))}
        </Table>
      </details>
    </figure>
  );
}
