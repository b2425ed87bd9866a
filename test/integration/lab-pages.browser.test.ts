/**
 * The lab's pages in a real browser (Debian's chromium through playwright-core), on a real database, the suite's
 * Temporal dev server with a worker running the monitors, a real SMTP server, and a real OpenID Connect provider
 * (oidc-provider) on loopback. Screenshots of the three pages go to a temporary directory, or to LAB_SCREENSHOTS
 * (`npm run screenshots` writes docs/images/).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Page } from 'playwright-core';
import type { Config } from '../../src/config';
import request from 'supertest';
import { RedcapConfig, RedcapRecord, Scan, Session, Site, Study, StudySite, User } from '../../src/db/entities';
import { SessionDismissal } from '../../src/db/lab-data';
import { SentEmail } from '../../src/db/sent-email';
import { attachRedcapRecord, findOrCreateSession } from '../../src/sessions/domain';
import { startScanMonitors } from '../../src/temporal/monitors';
import { launchBrowser, type TestBrowser } from '../support/browser';
import { FakeRedcap } from '../support/fake-redcap';
import { serveLab, startOidcProvider, type LabService, type TestOidcProvider } from '../support/lab-pages';
import { uniqueSessionId } from '../support/lab';
import { startMonitorHarness, type MonitorHarness } from '../support/monitors';
import { eventually } from '../support/processes';
import { freePort } from '../support/ports';
import { connectDevServer, quietTemporalLogs } from '../support/temporal';

const TOKEN = 'lab-pages-test-token';
function screenshotsDir(): string {
  const dir = process.env.LAB_SCREENSHOTS;
  if (!dir) return fs.mkdtempSync(path.join(os.tmpdir(), 'lab-screenshots-'));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
const SHOTS = screenshotsDir();
const DAY = 86_400_000;

let temporal: Awaited<ReturnType<typeof connectDevServer>>;
let lab: MonitorHarness;
let tokenLab: LabService;
let appConfig: Config;
const started: string[] = [];

/** A session missing its scans: its import check ran (2 s wait) and emailed the admins. */
const MISSING = uniqueSessionId('CMH', 1);
/** A session whose import check waits an hour: the one the forms cancel and undo. */
const WAITING = uniqueSessionId('CMH', 2);
/** Another session missing its scans: the one dismissed through the form (and the dismissal undone). */
const DISMISSED = uniqueSessionId('CMH', 3);
/** A session logged in the fake REDCap whose trigger never came: the study page's form pulls it. */
const PULLED = uniqueSessionId('ZHH', 4);
const REDCAP_TOKEN = 'B'.repeat(32);
const OTHER_STUDY_SESSION = 'OTH01_CMH_0001_01_01';
let fakeRedcap: FakeRedcap;
let pullConfigId: number;
let missingRecordId: number;
let otherRecordId: number;

const isoDay = (msAgo: number) => new Date(Date.now() - msAgo).toISOString().slice(0, 10);

/** A session with a REDCap record logged `daysAgo`, and `scans` scans. */
async function seedSession(
  em: EntityManager,
  sessionId: string,
  daysAgo: number,
  scans: number,
  comment = 'scanned',
): Promise<number> {
  const { session } = await findOrCreateSession(em, sessionId, isoDay(daysAgo * DAY));
  const config = await em.findOneOrFail(RedcapConfig, { project: 1234 });
  const record = em.create(RedcapRecord, {
    config,
    record: sessionId.split('_').slice(2, 3).join(''),
    entryDate: isoDay(daysAgo * DAY),
    sessionName: sessionId,
    comment,
    user: 'ra_kim',
  });
  await em.flush();
  await attachRedcapRecord(em, session, record);
  for (let i = 1; i <= scans; i++) {
    em.create(Scan, {
      session,
      name: `${sessionId}_${i === 1 ? 'T1' : 'RST'}_0${i}`,
      series: i,
      tag: i === 1 ? 'T1' : 'RST',
      createdAt: new Date(Date.now() - (daysAgo - 1) * DAY),
    });
  }
  await em.flush();
  return record.id;
}

/** Twelve weeks of a lab's life at two sites (readable ids: no monitor runs for them), another study, staff. */
async function seedHistory(em: EntityManager): Promise<void> {
  let n = 100;
  for (let week = 11; week >= 1; week--) {
    for (const site of ['CMH', 'ZHH']) {
      const sessions = site === 'CMH' ? 3 + (week % 3) : 1 + (week % 2);
      for (let i = 0; i < sessions; i++) {
        n += 1;
        // A few ZHH sessions lack their scans: the gap the picture shows.
        const scans = site === 'ZHH' && week % 4 === 1 && i === 0 ? 0 : 2;
        await seedSession(em, `SPN01_${site}_0${n}_01_01`, week * 7 + i, scans);
      }
    }
  }
  const other = em.create(Study, { id: 'OTH01', name: 'Other study' });
  em.create(StudySite, { study: other, site: em.getReference(Site, 'CMH'), code: 'OTH01', usesRedcap: true });
  await em.flush();
  otherRecordId = await seedSession(em, OTHER_STUDY_SESSION, 5, 0);
  const rui = await em.findOneOrFail(User, { email: 'rui@example.org' });
  rui.staff = true;
  rui.studies.set([em.getReference(Study, 'SPN01')]);
  await em.flush();
}

beforeAll(async () => {
  quietTemporalLogs();
  temporal = await connectDevServer();
  lab = await startMonitorHarness(temporal, { env: { SCAN_CHECK_DELAY: '2 seconds' }, lab: { downloadScript: null } });
  const em = lab.orm.em.fork() as EntityManager;
  await seedHistory(em);
  missingRecordId = await seedSession(em, MISSING, 3, 0, 'T1 and resting state; participant moved in run 2');
  await seedSession(em, WAITING, 1, 0);
  await seedSession(em, DISMISSED, 2, 0);
  for (const [sessionId, delayMs] of [
    [MISSING, 2_000],
    [WAITING, 3_600_000],
    [DISMISSED, 2_000],
  ] as const) {
    const config = { ...lab.config, durations: { ...lab.config.durations, scanCheckDelayMs: delayMs } };
    const monitors = await startScanMonitors(temporal.client, config, {
      sessionId,
      studyId: 'SPN01',
      siteId: 'CMH',
      downloadScript: null,
    });
    started.push(monitors.scanImport.workflowId);
    // As an intake does when it starts them (the session page says since when).
    await em.nativeUpdate(Session, { id: sessionId }, { monitorsStartedAt: new Date() });
  }
  // The pages' service waits an hour, as WAITING's monitor does (MISSING's took 2 s, then emailed).
  appConfig = { ...lab.config, durations: { ...lab.config.durations, scanCheckDelayMs: 3_600_000 } };
  tokenLab = await serveLab(lab.orm, temporal.client, appConfig, { API_TOKEN: TOKEN });
  // A second REDCap project, answered by the fake: its record of PULLED is saved, and no trigger came.
  fakeRedcap = await FakeRedcap.start();
  fakeRedcap.addProject({ token: REDCAP_TOKEN, records: [] });
  fakeRedcap.saveRow(REDCAP_TOKEN, {
    record_id: 'P4',
    session_id: PULLED,
    scan_date: isoDay(DAY),
    comments: 'pulled by hand',
    mri_scan_log_complete: '2',
  });
  const pullConfig = em.create(RedcapConfig, {
    url: fakeRedcap.url,
    project: 5678,
    instrument: 'mri_scan_log',
    version: '14.5.2',
    token: REDCAP_TOKEN,
    sessionField: 'session_id',
    dateField: 'scan_date',
    commentField: 'comments',
    completedField: 'mri_scan_log_complete',
    completedValue: '2',
  });
  await em.flush();
  pullConfigId = pullConfig.id;
  for (const sessionId of [MISSING, DISMISSED]) {
    await eventually(async () => {
      const sent = await lab.orm.em.fork().findOne(SentEmail, { sessionId, status: 'sent' });
      return sent !== null && lab.smtp.messages.some((mail) => mail.subject.includes(sessionId));
    }, `the no-scans email of ${sessionId}`);
  }
});

afterAll(async () => {
  // The monitors started here and by the pulled record's intake.
  for await (const execution of temporal.client.workflow.list({
    query: `TaskQueue="${lab.config.taskQueue}" AND ExecutionStatus="Running"`,
  })) {
    started.push(execution.workflowId);
  }
  for (const workflowId of started) {
    await temporal.client.workflow
      .getHandle(workflowId)
      .terminate('test done')
      .catch(() => undefined);
  }
  await tokenLab?.close();
  await fakeRedcap?.close();
  await lab?.close();
  await temporal?.close();
});

const main = (page: Page) => page.locator('main').innerText();

async function tokenLogin(page: Page, token = TOKEN): Promise<void> {
  await page.goto(`${tokenLab.url}/lab/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** Whether the session's row records a cancel, straight from the database. */
async function cancelled(sessionId: string): Promise<boolean> {
  const rows: Array<{ monitors_cancelled_at: unknown }> = await lab.orm.em
    .fork()
    .getConnection()
    .execute('select monitors_cancelled_at from session where id = ?', [sessionId]);
  return rows[0].monitors_cancelled_at !== null;
}

describe('token login (no OpenID Connect provider)', () => {
  let browser: TestBrowser;
  let page: Page;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(() => browser?.close());
  beforeEach(async () => {
    await browser.context.clearCookies();
    page = await browser.context.newPage();
  });
  afterEach(() => page.close());

  test('a page sends a stranger to the login page; a wrong token is refused; the right one lets in; logout', async () => {
    await page.goto(`${tokenLab.url}/lab/studies/SPN01`);
    expect(new URL(page.url()).pathname).toBe('/lab/login');
    expect(await page.locator('h1').innerText()).toBe('Log in');

    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    expect(await page.getByRole('alert').innerText()).toMatch(/not the service.s API token/);

    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    // Back where the stranger wanted to go.
    expect(new URL(page.url()).pathname).toBe('/lab/studies/SPN01');
    expect(await page.locator('header').innerText()).toMatch(/operator\s*\(admin\)/);
    const cookie = (await browser.context.cookies()).find((c) => c.name === 'lab_login')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false });
    expect(cookie.expires).toBeGreaterThan(Date.now() / 1000);

    await page.getByRole('button', { name: 'Log out' }).click();
    expect(await page.getByRole('status').innerText()).toBe('You are logged out.');
    await page.goto(`${tokenLab.url}/lab/`);
    expect(new URL(page.url()).pathname).toBe('/lab/login');
  });

  test('keyboard only: skip link first, then the token field and Enter', async () => {
    await page.goto(`${tokenLab.url}/lab/login`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to the content');
    await page.getByLabel('API token').focus();
    await page.keyboard.type(TOKEN);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${tokenLab.url}/lab/`);
    expect(await page.locator('h1').innerText()).toBe('Studies');
  });

  test('the studies page lists both studies with what needs a person; screenshot', async () => {
    await tokenLogin(page);
    const text = await main(page);
    expect(text).toMatch(/SPN01\s+Social Processes Network/);
    expect(text).toMatch(/OTH01\s+Other study/);
    // SPN01: the missing session and the ZHH sessions whose scans never came; OTH01's one session too.
    const spn = await page.getByRole('row', { name: /SPN01/ }).innerText();
    expect(spn).toMatch(/CMH, ZHH/);
    expect(spn).toMatch(/⚠\s*\d+/);
    await page.screenshot({ path: path.join(SHOTS, 'lab-studies.png'), fullPage: true });
  });

  test('the study page: sites with their last record and scan, the weekly picture, sessions with state; screenshot', async () => {
    await tokenLogin(page);
    await page.getByRole('link', { name: 'SPN01' }).first().click();
    expect(await page.locator('h1').innerText()).toBe('SPN01: Social Processes Network');
    const sites = await page.getByRole('region', { name: 'Sites' }).innerText();
    expect(sites).toMatch(/CMH\s+SPN01_CMH_\w+_01_01, \d{4}-\d\d-\d\d \((yesterday|\d+ days ago)\)/);
    expect(sites).toMatch(/ZHH/);
    const svg = page.locator('svg[role="img"]');
    expect(await svg.getAttribute('aria-labelledby')).toBe('weekly-title weekly-desc');
    expect(await svg.locator('rect[data-series="scans"]').count()).toBeGreaterThan(20);
    const sessions = await page.getByRole('region', { name: 'Newest sessions' }).innerText();
    expect(sessions).toContain(MISSING);
    expect(
      await page
        .getByRole('region', { name: 'Newest sessions' })
        .getByRole('row', { name: new RegExp(MISSING) })
        .innerText(),
    ).toMatch(/⚠ missing scans/);
    expect(sessions).not.toContain(OTHER_STUDY_SESSION);
    await page.screenshot({ path: path.join(SHOTS, 'lab-study.png'), fullPage: true });
    // On a phone the page still reads (the tables scroll sideways on their own, the page does not).
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(SHOTS, 'lab-study-phone.png') });
  });

  test('the session page of a session missing scans: record, monitors, the email, links; screenshot', async () => {
    await tokenLogin(page);
    await page.goto(`${tokenLab.url}/lab/sessions/${MISSING}`);
    const text = await main(page);
    expect(text).toMatch(/State\s+⚠ missing scans/);
    expect(text).toMatch(/participant moved in run 2/);
    expect(text).toMatch(/No scan has arrived/);
    const monitors = await page.getByRole('region', { name: 'Monitors' }).innerText();
    expect(monitors).toMatch(/Scan import check\s+completed/);
    expect(monitors).toMatch(/email-sent/);
    const emails = await page.getByRole('region', { name: 'Emails sent' }).innerText();
    expect(emails).toContain(`No scan data received for ${MISSING}`);
    expect(emails).toMatch(/✓ sent/);

    const record = page.getByRole('link', { name: /^Record / });
    expect(await record.getAttribute('href')).toBe(`/redcap_redirect/${missingRecordId}`);
    // The link works for the person logged in (the browser's own cookie; REDCap itself is not on this machine).
    const redirect = await page.request.get(`${tokenLab.url}/redcap_redirect/${missingRecordId}`, { maxRedirects: 0 });
    expect(redirect.status()).toBe(302);
    expect(redirect.headers().location).toMatch(/^https:\/\/redcap\.example\.org\/redcap_v14\.5\.2\/DataEntry\//);

    const webUi = await page.getByRole('link', { name: /Temporal Web UI/ }).getAttribute('href');
    expect(webUi).toBe(
      `${lab.config.lab.temporalUiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`SessionId="${MISSING}"`)}`,
    );
    await page.screenshot({ path: path.join(SHOTS, 'lab-session.png'), fullPage: true });
  });

  test('cancel and undo through the forms: the monitors end, then run again', async () => {
    await tokenLogin(page);
    await page.goto(`${tokenLab.url}/lab/sessions/${WAITING}`);
    expect(await main(page)).toMatch(/State\s+◷ waiting/);
    expect(await page.getByRole('region', { name: 'Monitors' }).innerText()).toMatch(/running\s[\s\S]*waiting/);
    await page.getByLabel(/Reason/).fill('participant withdrew');
    await page.getByRole('button', { name: 'Cancel its monitoring' }).click();
    expect(await page.getByRole('status').innerText()).toMatch(/monitoring is cancelled/);
    expect(await main(page)).toMatch(/State\s+⊘ no scans expected/);
    expect(await main(page)).toMatch(/cancelled[^\n]*: participant withdrew/);
    expect(await cancelled(WAITING)).toBe(true);

    await page.getByRole('button', { name: /Undo the cancel/ }).click();
    expect(await page.getByRole('status').innerText()).toMatch(/cancel is undone/);
    expect(await cancelled(WAITING)).toBe(false);
    await eventually(async () => {
      await page.reload();
      return /running[\s\S]*waiting/.test(await page.getByRole('region', { name: 'Monitors' }).innerText());
    }, 'the monitors of the undone session to run again');
  });

  test('the outstanding table lists the sessions missing scans, oldest first; its CSV too', async () => {
    await tokenLogin(page);
    await page.goto(`${tokenLab.url}/lab/studies/SPN01`);
    const table = page.getByRole('region', { name: 'What needs a person', exact: true });
    const row = await table.getByRole('row', { name: new RegExp(MISSING) }).innerText();
    expect(row).toMatch(/⚠ missing scans/);
    expect(row).toContain('CMH');
    expect(await table.getByRole('row', { name: new RegExp(DISMISSED) }).count()).toBe(1);
    // WAITING's import check has not run yet: nothing needs a person for it.
    expect(await table.innerText()).not.toContain(WAITING);
    const csv = await page.request.get(
      `${tokenLab.url}${await page.getByRole('link', { name: 'The same as CSV' }).getAttribute('href')}`,
    );
    expect(csv.status()).toBe(200);
    expect(csv.headers()['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers()['content-disposition']).toMatch(
      /attachment; filename="SPN01-outstanding-\d{4}-\d\d-\d\d\.csv"/,
    );
    const lines = (await csv.text()).trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/^"kind","studyId",/);
    expect(lines.some((line) => line.startsWith(`"missing-scans","SPN01","CMH","${MISSING}"`))).toBe(true);
  });

  test('a dismissal through the form: gone from the outstanding table, its comment on the page; undo', async () => {
    await tokenLogin(page);
    await page.goto(`${tokenLab.url}/lab/studies/SPN01`);
    await page
      .getByRole('region', { name: 'What needs a person', exact: true })
      .getByRole('link', { name: DISMISSED })
      .click();
    expect(await main(page)).toMatch(/State\s+⚠ missing scans/);
    // The comment is required: an empty one posts nothing (the browser says so) and the server refuses it anyway.
    const csrf = await page.locator('main form input[name="_csrf"]').first().getAttribute('value');
    const empty = await page.request.post(`${tokenLab.url}/lab/sessions/${DISMISSED}/dismissals`, {
      form: { _csrf: csrf!, kind: 'no-scans-expected', comment: '  ' },
    });
    expect(empty.status()).toBe(400);
    expect(await empty.text()).toMatch(/needs a comment that says why; nothing was changed/);
    expect(await lab.orm.em.fork().count(SessionDismissal, { sessionId: DISMISSED })).toBe(0);

    await page.getByLabel(/Why will no scans come/).fill('participant withdrew before the scan');
    await page.getByRole('button', { name: 'Dismiss: no scans expected' }).click();
    expect(await page.getByRole('status').innerText()).toMatch(/^Dismissed, with your comment/);
    expect(await main(page)).toMatch(/State\s+⊘ no scans expected/);
    const dismissals = await page.getByRole('region', { name: 'Dismissals', exact: true }).innerText();
    expect(dismissals).toMatch(/no scans expected\s+participant withdrew before the scan\s+operator/);
    await page.goto(`${tokenLab.url}/lab/studies/SPN01`);
    expect(await page.getByRole('region', { name: 'What needs a person', exact: true }).innerText()).not.toContain(
      DISMISSED,
    );

    await page.goto(`${tokenLab.url}/lab/sessions/${DISMISSED}`);
    await page.getByRole('button', { name: /^Undo “no scans expected”/ }).click();
    expect(await page.getByRole('status').innerText()).toMatch(/dismissal is undone/);
    expect(await main(page)).toMatch(/State\s+⚠ missing scans/);
    expect(await lab.orm.em.fork().count(SessionDismissal, { sessionId: DISMISSED })).toBe(0);
    await page.goto(`${tokenLab.url}/lab/studies/SPN01`);
    expect(await page.getByRole('region', { name: 'What needs a person', exact: true }).innerText()).toContain(
      DISMISSED,
    );
  });

  test('a pull through the form of the study page files the record and shows its session', async () => {
    await tokenLogin(page);
    await page.goto(`${tokenLab.url}/lab/studies/SPN01`);
    expect(await page.getByRole('link', { name: PULLED }).count()).toBe(0);
    await page.getByLabel('REDCap project').selectOption(String(pullConfigId));
    await page.getByLabel('Record', { exact: true }).fill('P4');
    await page.getByRole('button', { name: 'Pull the record' }).click();
    expect(new URL(page.url()).pathname).toMatch(/^\/lab\/intakes\/redcap-intake/);
    await eventually(async () => {
      if (/Filed/.test(await page.getByRole('status').innerText())) return true;
      await page.reload();
      return false;
    }, `the intake of ${PULLED} to file it`);
    expect(await page.getByRole('status').innerText()).toMatch(
      new RegExp(`Filed: session ${PULLED} \\(created\\); its monitors started`),
    );
    await page.getByRole('link', { name: PULLED }).click();
    expect(await page.locator('h1').innerText()).toContain(PULLED);
    expect(await main(page)).toMatch(/pulled by hand/);

    // A config that files nothing to the study, or an intake of none of its configs: not found, nothing started.
    const csrf = await page.locator('header input[name="_csrf"]').getAttribute('value');
    const unknown = await page.request.post(`${tokenLab.url}/lab/pull`, {
      form: { _csrf: csrf!, study: 'SPN01', config: '99999', record: 'P4' },
    });
    expect(unknown.status()).toBe(404);
    expect(await unknown.text()).toContain('No REDCap config 99999 files records to study SPN01');
    expect((await page.goto(`${tokenLab.url}/lab/intakes/no-such-intake?study=SPN01`))?.status()).toBe(404);
  });

  test('a forged or missing CSRF token is refused with 403, and nothing changes', async () => {
    await tokenLogin(page);
    for (const forge of [
      // Every form of the page (the dismissal forms come before the cancel).
      () =>
        document.querySelectorAll<HTMLInputElement>('main form input[name="_csrf"]').forEach((input) => {
          input.value = 'forged';
        }),
      () => document.querySelectorAll('main form input[name="_csrf"]').forEach((input) => input.remove()),
    ]) {
      await page.goto(`${tokenLab.url}/lab/sessions/${WAITING}`);
      await page.evaluate(forge);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/cancel')),
        page.getByRole('button', { name: 'Cancel its monitoring' }).click(),
      ]);
      expect(response.status()).toBe(403);
      expect(await page.locator('h1').innerText()).toBe('Not allowed');
      expect(await main(page)).toMatch(/CSRF token is missing or wrong\), so nothing was changed/);
      expect(await cancelled(WAITING)).toBe(false);
    }
  });

  test('a logged-out form post gets the login page, and nothing changes', async () => {
    const response = await request(tokenLab.url)
      .post(`/lab/sessions/${WAITING}/cancel`)
      .type('form')
      .send({ _csrf: 'whatever', reason: 'x' });
    expect(response.status).toBe(401);
    expect(response.text).toMatch(/<h1>Log in<\/h1>/);
    expect(response.text).toMatch(/Log in first: nothing was changed/);
    expect(await cancelled(WAITING)).toBe(false);
  });

  test('unknown studies, sessions and pages are 404 pages; the JSON API still wants its bearer token', async () => {
    await tokenLogin(page);
    for (const [url, text] of [
      ['/lab/studies/NOPE01', 'No study NOPE01'],
      ['/lab/sessions/SPN01_CMH_9999_01_01', 'No session SPN01_CMH_9999_01_01'],
      ['/lab/sessions/not-a-session-id', 'No session not-a-session-id'],
      ['/lab/nothing-here', 'No page at /lab/nothing-here'],
    ]) {
      const response = await page.goto(`${tokenLab.url}${url}`);
      expect(response?.status()).toBe(404);
      expect(await page.locator('h1').innerText()).toBe('Not found');
      expect(await main(page)).toContain(text);
    }
    const api = await page.request.get(`${tokenLab.url}/sessions/${MISSING}`);
    expect(api.status()).toBe(401);
    const bearer = await request(tokenLab.url).get(`/sessions/${MISSING}`).set('Authorization', `Bearer ${TOKEN}`);
    expect(bearer.status).toBe(200);
  });
});

describe('OpenID Connect login', () => {
  let provider: TestOidcProvider;
  let oidcLab: LabService;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    const port = await freePort();
    provider = await startOidcProvider(`http://127.0.0.1:${port}/lab/auth/callback`);
    oidcLab = await serveLab(
      lab.orm,
      temporal.client,
      appConfig,
      {
        API_TOKEN: TOKEN,
        OIDC_ISSUER: provider.issuer,
        OIDC_CLIENT_ID: provider.clientId,
        OIDC_CLIENT_SECRET: provider.clientSecret,
      },
      port,
    );
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await oidcLab?.close();
    await provider?.stop();
  });
  beforeEach(async () => {
    await browser.context.clearCookies();
    page = await browser.context.newPage();
  });
  afterEach(() => page.close());

  /** Through the provider's own login form (any password) and consent, back to our callback. */
  async function logInAs(email: string, path = '/lab/'): Promise<void> {
    await page.goto(`${oidcLab.url}${path}`);
    await page.getByRole('button', { name: "Log in with the lab's account" }).click();
    await page.waitForURL((url) => url.origin === provider.issuer);
    await page.locator('input[name="login"]').fill(email);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.origin === oidcLab.url);
  }

  test('the login page offers the provider, not the token', async () => {
    await page.goto(`${oidcLab.url}/lab/`);
    expect(await page.getByLabel('API token').count()).toBe(0);
    expect(await page.getByRole('button', { name: "Log in with the lab's account" }).count()).toBe(1);
  });

  test('an admin of the lab config logs in (any case of the email) and may act', async () => {
    await logInAs('Ada@Example.org', `/lab/sessions/${WAITING}`);
    expect(new URL(page.url()).pathname).toBe(`/lab/sessions/${WAITING}`);
    expect(await page.locator('header').innerText()).toMatch(/Admin 1\s*\(admin\)/);
    expect(await page.getByRole('button', { name: 'Cancel its monitoring' }).count()).toBe(1);
  });

  test('a staff user limited to SPN01 looks, cannot act, and cannot see the other study', async () => {
    await logInAs('rui@example.org');
    expect(await page.locator('header').innerText()).toMatch(/Rui Assistant\s*\(staff: may look\)/);
    const studies = await main(page);
    expect(studies).toContain('SPN01');
    expect(studies).not.toContain('OTH01');
    await page.goto(`${oidcLab.url}/lab/studies/SPN01`);
    expect(await page.getByRole('button', { name: 'Pull the record' }).count()).toBe(0);

    await page.goto(`${oidcLab.url}/lab/sessions/${WAITING}`);
    expect(await page.getByRole('button', { name: 'Cancel its monitoring' }).count()).toBe(0);
    expect(await main(page)).toMatch(/an admin acts on it/);
    // Even a well-formed post (its own valid CSRF token) does nothing.
    const csrf = await page.locator('header input[name="_csrf"]').getAttribute('value');
    const post = await page.request.post(`${oidcLab.url}/lab/sessions/${WAITING}/cancel`, {
      form: { _csrf: csrf!, reason: 'staff try' },
    });
    expect(post.status()).toBe(403);
    expect(await post.text()).toMatch(/You may look, not act/);
    expect(await cancelled(WAITING)).toBe(false);

    for (const url of ['/lab/studies/OTH01', `/lab/sessions/${OTHER_STUDY_SESSION}`]) {
      expect((await page.goto(`${oidcLab.url}${url}`))?.status()).toBe(404);
    }
    // Links: a record of the own study redirects, one of the other study is not found.
    expect(
      (await page.request.get(`${oidcLab.url}/redcap_redirect/${missingRecordId}`, { maxRedirects: 0 })).status(),
    ).toBe(302);
    expect(
      (await page.request.get(`${oidcLab.url}/redcap_redirect/${otherRecordId}`, { maxRedirects: 0 })).status(),
    ).toBe(404);
  });

  test('someone who is not in the lab config gets a page saying so (no stack, no list of users)', async () => {
    await logInAs('stranger@example.org');
    expect(await page.locator('h1').innerText()).toBe('You cannot log in here');
    const text = await main(page);
    expect(text).toContain("You logged in as stranger@example.org, but no user of this lab's config has that email");
    expect(text).not.toMatch(/ada@|rui@|Admin 1|Rui|at .*\.ts:\d+/);
    await page.goto(`${oidcLab.url}/lab/`);
    expect(new URL(page.url()).pathname).toBe('/lab/login');
  });

  test('the provider refusing (the person cancels) is the login page with the reason', async () => {
    await page.goto(`${oidcLab.url}/lab/`);
    await page.getByRole('button', { name: "Log in with the lab's account" }).click();
    await page.waitForURL((url) => url.origin === provider.issuer);
    await page.getByRole('link', { name: /Cancel/ }).click();
    await page.waitForURL((url) => url.origin === oidcLab.url);
    expect(await page.locator('h1').innerText()).toBe('Log in');
    expect(await page.getByRole('alert').innerText()).toMatch(/The login provider refused: .*aborted/i);
  });

  test('a callback whose state does not match is the login page with the reason, and no login', async () => {
    // A real callback URL, from a login that completed (the browser follows the provider's redirect to it).
    let callback: URL | undefined;
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.pathname === '/lab/auth/callback') callback = url;
    });
    await logInAs('ada@example.org');
    expect(callback?.searchParams.get('state')).toBeTruthy();
    // A new browser starts a login, and a callback with another state comes back.
    await browser.context.clearCookies();
    await page.goto(`${oidcLab.url}/lab/`);
    await page.getByRole('button', { name: "Log in with the lab's account" }).click();
    await page.waitForURL((url) => url.origin === provider.issuer);
    const forged = new URL(callback!);
    forged.searchParams.set('state', 'not-the-state');
    const response = await page.goto(forged.href);
    expect(response?.status()).toBe(400);
    expect(await page.getByRole('alert').innerText()).toMatch(/The login could not be completed: .*state/i);
    await page.goto(`${oidcLab.url}/lab/`);
    expect(new URL(page.url()).pathname).toBe('/lab/login');
    // The checks were for one use: the same callback again finds no login begun.
    await page.goto(forged.href);
    expect(await page.getByRole('alert').innerText()).toMatch(/did not begin in this browser/);
  });
});
