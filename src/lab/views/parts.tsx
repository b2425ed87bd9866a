/** The pieces every page uses: the layout, a session's state, times, forms with their CSRF token, tables. */
import type { ComponentChildren } from 'preact';
import type { Viewer } from '../viewer';
import type { SessionState } from '../stand-ins';
import { STYLESHEET_VERSION } from '../stylesheet';

/** What every page needs to draw its header: who is looking, and the CSRF token of its forms. */
export interface PageContext {
  viewer?: Viewer;
  csrf: string;
  /** "Now" for "N days ago" (one instant per page). */
  now: Date;
}

export function Layout(props: {
  page: PageContext;
  title: string;
  breadcrumbs?: Array<{ href: string; label: string }>;
  children: ComponentChildren;
}) {
  const { viewer, csrf } = props.page;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · scan monitor`}</title>
        <link rel="stylesheet" href={`/lab/style.css?v=${STYLESHEET_VERSION}`} />
      </head>
      <body>
        <a href="#main">Skip to the content</a>
        <header>
          <nav aria-label="Main">
            <a href="/lab/">
              <strong>Scan monitor</strong>
            </a>
            {viewer && <a href="/lab/">Studies</a>}
            {viewer && (
              <span>
                <span>
                  {viewer.name} <small>({viewer.canAct ? 'admin' : 'staff: may look'})</small>
                </span>
                <form method="post" action="/lab/logout">
                  <CsrfField token={csrf} />
                  <button type="submit">Log out</button>
                </form>
              </span>
            )}
          </nav>
        </header>
        <main id="main">
          {props.breadcrumbs && props.breadcrumbs.length > 0 && (
            <nav aria-label="Breadcrumb">
              <ol>
                {props.breadcrumbs.map((crumb) => (
                  <li key={crumb.href}>
                    <a href={crumb.href}>{crumb.label}</a>
                  </li>
                ))}
              </ol>
            </nav>
          )}
          <h1>{props.title}</h1>
          {props.children}
        </main>
        <footer>redcap-scan-monitor · times in {timeZone()}</footer>
      </body>
    </html>
  );
}

export const CsrfField = ({ token }: { token: string }) => <input type="hidden" name="_csrf" value={token} />;

/** A form that changes something: POST, with the page's CSRF token. */
export function ActionForm(props: { page: PageContext; action: string; button: string; children?: ComponentChildren }) {
  return (
    <form method="post" action={props.action}>
      <CsrfField token={props.page.csrf} />
      {props.children}
      <button type="submit">{props.button}</button>
    </form>
  );
}

const STATES: Record<SessionState, { icon: string; words: string }> = {
  waiting: { icon: '◷', words: 'waiting' },
  'missing-scans': { icon: '⚠', words: 'missing scans' },
  downloading: { icon: '↓', words: 'downloading' },
  'scans-present': { icon: '✓', words: 'scans present' },
  'no-scans-expected': { icon: '⊘', words: 'no scans expected' },
  'no-redcap-record': { icon: '⚠', words: 'no REDCap record' },
  'no-redcap-expected': { icon: '⊘', words: 'no REDCap record expected' },
  problem: { icon: '✕', words: 'problem' },
};

/** A session's state: an icon and its words (the colour only repeats them). */
export const StateBadge = ({ state }: { state: SessionState }) => (
  <span data-state={state}>
    <span aria-hidden="true">{STATES[state].icon}</span> {STATES[state].words}
  </span>
);

const DAY_MS = 86_400_000;

/** "13 days ago", "today", "in 2 days". */
export function daysSince(then: Date, now: Date): string {
  const days = Math.floor((startOfDay(now) - startOfDay(then)) / DAY_MS);
  if (days === 0) return 'today';
  if (days === 1) return 'yesterday';
  if (days === -1) return 'tomorrow';
  return days > 0 ? `${days} days ago` : `in ${-days} days`;
}
const startOfDay = (date: Date) => Date.UTC(date.getFullYear(), date.getMonth(), date.getDate());

const dateTimeFormat = new Intl.DateTimeFormat('en-CA', {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});
const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A time of day in the service's zone, e.g. 2026-12-03 14:05. */
export function DateTime({ at, now }: { at: Date | string; now?: Date }) {
  const date = typeof at === 'string' ? new Date(at) : at;
  return (
    <>
      <time dateTime={date.toISOString()}>{dateTimeFormat.format(date).replace(',', '')}</time>
      {now && <span> ({daysSince(date, now)})</span>}
    </>
  );
}

/** A calendar date (YYYY-MM-DD), with how long ago. */
export function Day({ date, now }: { date: string; now: Date }) {
  const [y, m, d] = date.split('-').map(Number);
  return (
    <>
      <time dateTime={date}>{date}</time> <span>({daysSince(new Date(y, m - 1, d), now)})</span>
    </>
  );
}

/**
 * A table that scrolls sideways on a small screen (and can be scrolled with the keyboard): its column headings (a
 * number column, written `#Sessions`, is right-aligned), then its rows (`children`, the <tr>s of its body).
 */
export function Table(props: { label: string; columns: string[]; children: ComponentChildren }) {
  return (
    <div role="region" aria-label={props.label} tabIndex={0}>
      <table>
        <thead>
          <tr>
            {props.columns.map((column) =>
              column.startsWith('#') ? (
                <th scope="col" data-number key={column}>
                  {column.slice(1)}
                </th>
              ) : (
                <th scope="col" key={column}>
                  {column}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** A message at the top of a page: what just happened (status) or what went wrong (alert). */
export const Notice = ({ text, alert }: { text?: string; alert?: boolean }) =>
  text ? <p role={alert ? 'alert' : 'status'}>{text}</p> : null;
