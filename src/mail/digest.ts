/**
 * The daily digest of a study (docs/email.md "The daily digest"). Pure code: the facts in, the subject and plain-text
 * body out. Subject: `[SPN01] Daily scan report: 2 missing scans, 1 without REDCap, 1 problem`.
 */
import type { OutstandingItem, OutstandingKind } from '../lab-data/outstanding';
import type { MailContent } from './templates';

export type DigestItemKind = OutstandingKind;

/** An item of the study's outstanding work, with where a person acts on it. */
export interface DigestItem extends Omit<OutstandingItem, 'studyId' | 'record'> {
  /** The lab page of the session (PUBLIC_URL set), else the REDCap record; null when there is neither. */
  link: string | null;
}

export interface DigestMissedTriggers {
  project: number;
  instrument: string;
  count: number;
  sample: string[];
  foundAt: string;
  /** The project's Record Status Dashboard. */
  link: string;
}

export interface DigestFacts {
  studyId: string;
  studyName: string;
  /** YYYY-MM-DD in `timeZone`. */
  day: string;
  timeZone: string;
  /** Outstanding work that began in the last 24 hours, and the rest, oldest first. */
  fresh: DigestItem[];
  open: DigestItem[];
  /** Reconciliation runs of the last 24 hours that found records without a trigger. */
  missedTriggers: DigestMissedTriggers[];
  /** Emails the hourly limit held back in the last 24 hours, by kind. */
  held: Record<string, number>;
  /** The lab page of the study, when PUBLIC_URL is set. */
  studyLink: string | null;
}

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
const age = (days: number) => (days === 0 ? 'today' : `${plural(days, 'day')} ago`);

/** The lines of the digest: outstanding work, missed triggers and held emails. None: no email. */
export const digestLines = (facts: DigestFacts) =>
  facts.fresh.length +
  facts.open.length +
  facts.missedTriggers.length +
  Object.values(facts.held).reduce((sum, count) => sum + count, 0);

function describe(item: DigestItem): string {
  const where = [item.siteId, item.date ? `scanned ${item.date}` : ''].filter(Boolean).join(', ');
  const session = item.sessionId ? `${item.sessionId}${where ? ` (${where})` : ''}` : '';
  switch (item.kind) {
    case 'missing-scans':
      return `${session}: no scan data; the admins were emailed ${age(item.ageDays)}`;
    case 'no-redcap-record':
      return `${session}: scans but no REDCap record, since ${age(item.ageDays)}`;
    case 'problem':
      return `REDCap record ${item.recordName ?? '(unknown)'}${session ? ` for ${session}` : ''}, since ${age(item.ageDays)}: ${item.reason ?? ''}`;
    case 'quiet-site':
      return `Site ${item.siteId}: quiet since ${age(item.ageDays)} (${item.reason ?? ''})`;
  }
}

const itemLines = (items: DigestItem[]) =>
  items.flatMap((item) => [`  - ${describe(item)}`, ...(item.link ? [`    ${item.link}`] : [])]);

export function labDigestEmail(facts: DigestFacts): MailContent {
  const all = [...facts.fresh, ...facts.open];
  const count = (kind: DigestItemKind) => all.filter((item) => item.kind === kind).length;
  const parts = [plural(count('missing-scans'), 'missing scan'), `${count('no-redcap-record')} without REDCap`];
  if (count('problem') > 0) parts.push(plural(count('problem'), 'problem'));
  if (count('quiet-site') > 0) parts.push(plural(count('quiet-site'), 'quiet site'));
  const missed = facts.missedTriggers.reduce((sum, run) => sum + run.count, 0);
  if (missed > 0) parts.push(plural(missed, 'missed trigger'));
  const held = Object.entries(facts.held).filter(([, n]) => n > 0);

  const text = [
    `Daily scan report for ${facts.studyId} (${facts.studyName}), ${facts.day}.`,
    '',
    `${parts.join(', ')}; ${facts.fresh.length} new since yesterday.`,
    ...(facts.fresh.length > 0 ? ['', 'New since yesterday:', ...itemLines(facts.fresh)] : []),
    ...(facts.open.length > 0 ? ['', 'Still open:', ...itemLines(facts.open)] : []),
    ...(facts.missedTriggers.length > 0
      ? [
          '',
          'Records that arrived without a Data Entry Trigger (found by reconciliation; their intakes were started):',
          ...facts.missedTriggers.flatMap((run) => [
            `  - REDCap project ${run.project} (${run.instrument}): ${plural(run.count, 'record')}: ${run.sample.join(', ')}${run.count > run.sample.length ? ', …' : ''}`,
            `    ${run.link}`,
          ]),
          '  Check the Data Entry Trigger URL in REDCap (Project Setup → Additional customizations).',
        ]
      : []),
    ...(held.length > 0
      ? [
          '',
          `Emails held back by the limit of one an hour per REDCap project: ${held.map(([kind, n]) => `${n} ${kind}`).join(', ')}.`,
          'What they were about is listed above.',
        ]
      : []),
    ...(facts.studyLink ? ['', `The study's page: ${facts.studyLink}`] : []),
    '',
    '-- ',
    `Sent at most once a day (days in ${facts.timeZone}) by redcap-scan-monitor, when something needs a person.`,
    'Dismiss what will not come (no scans expected, no REDCap record expected) and it leaves this list.',
  ].join('\n');
  return { subject: `[${facts.studyId}] Daily scan report: ${parts.join(', ')}`, text };
}
