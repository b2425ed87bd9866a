/** The operator's view of what `config apply` did: one line per entity, then a summary. */
import type { ApplyReport } from './apply';

export function formatReport(report: ApplyReport): string[] {
  const lines = report.changes.map((change) => {
    const what = change.action === 'updated' ? `updated (${change.fields.join(', ')})` : change.action;
    return `${change.kind} ${change.name}: ${what}`;
  });
  const count = (action: string) => report.changes.filter((change) => change.action === action).length;
  if (!report.changed) {
    lines.push(
      `nothing changed (${report.changes.length} ${report.changes.length === 1 ? 'entry' : 'entries'} already up to date)`,
    );
  } else {
    lines.push(`${count('created')} created, ${count('updated')} updated, ${count('unchanged')} unchanged`);
  }
  return lines;
}
