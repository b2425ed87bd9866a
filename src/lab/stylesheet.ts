/**
 * The pages' one stylesheet, served at /lab/style.css (no CDN: hospital networks block them). Classless: it styles
 * elements, and the few `data-*` attributes the views set; no client build step. Status is never colour alone: the
 * views always write the state's word and an icon, the colours only repeat them.
 */
import { createHash } from 'node:crypto';

export const STYLESHEET = `
:root {
  --text: #1d2126; --muted: #55606b; --bg: #fff; --panel: #f3f5f7; --line: #cfd6dd; --link: #0b57a4;
  --ok: #1e6b35; --warn: #8a4b00; --bad: #a11d2a; --info: #2e4a7a;
  color-scheme: light dark;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  line-height: 1.5;
}
@media (prefers-color-scheme: dark) {
  :root { --text: #e7eaee; --muted: #a9b3bd; --bg: #15181c; --panel: #1f2429; --line: #3a434c; --link: #8cc2ff;
    --ok: #7fd69a; --warn: #ffc073; --bad: #ff8f99; --info: #a9c4ff; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
body > a:first-child { position: absolute; left: -999px; }
body > a:first-child:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; z-index: 1; }
header, main, footer { max-width: 72rem; margin: 0 auto; padding: 0 1rem; }
header { border-bottom: 1px solid var(--line); }
header nav { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center; padding: .75rem 0; }
header nav > :last-child { margin-left: auto; display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; }
footer { color: var(--muted); font-size: .875rem; padding: 2rem 1rem; }
h1 { font-size: 1.6rem; margin: 1rem 0 .5rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; }
a { color: var(--link); }
:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
nav[aria-label="Breadcrumb"] ol { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem; padding: 0; margin: 1rem 0 0; }
nav[aria-label="Breadcrumb"] li + li::before { content: "›"; margin-right: .25rem; color: var(--muted); }
[role="region"] { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
td[data-number], th[data-number] { text-align: right; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .5rem 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
section, aside { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .25rem 1rem 1rem; margin: 1rem 0; }
section > h2:first-child, aside > h2:first-child { margin-top: .75rem; }
p[role="status"], p[role="alert"] { border-left: .3rem solid var(--info); background: var(--panel); padding: .5rem .75rem; }
p[role="alert"] { border-color: var(--bad); }
small, time + span { color: var(--muted); }
[data-state] { font-weight: 600; white-space: nowrap; }
[data-state="scans-present"] { color: var(--ok); }
[data-state="missing-scans"], [data-state="no-redcap-record"], [data-state="problem"] { color: var(--bad); }
[data-state="downloading"], [data-state="waiting"] { color: var(--info); }
[data-state="no-scans-expected"], [data-state="no-redcap-expected"] { color: var(--muted); }
form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: .5rem 0; }
header form { margin: 0; }
label { display: flex; flex-direction: column; gap: .2rem; font-weight: 600; }
input, button { font: inherit; padding: .45rem .7rem; border-radius: .3rem; border: 1px solid var(--line); }
input { background: var(--bg); color: var(--text); min-width: min(20rem, 100%); }
button { background: var(--link); color: var(--bg); border-color: var(--link); cursor: pointer; font-weight: 600; }
header button { background: transparent; color: var(--link); }
svg { max-width: 100%; height: auto; }
svg text { fill: var(--text); font-size: 12px; }
svg [data-series="records"] { fill: var(--link); }
svg [data-series="scans"] { fill: url(#scans-hatch); stroke: var(--ok); }
svg pattern path { stroke: var(--ok); stroke-width: 2; }
svg line { stroke: var(--line); }
details { margin: .5rem 0; }
@media (max-width: 40rem) {
  dl { grid-template-columns: 1fr; }
  dt { margin-top: .4rem; }
  th, td { padding: .35rem .4rem; }
}
`;

/** For the stylesheet's URL: a new version is a new URL, so browsers may keep it for long. */
export const STYLESHEET_VERSION = createHash('sha256').update(STYLESHEET).digest('hex').slice(0, 12);
