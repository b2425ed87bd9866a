/**
 * The XNAT client and the state it reads (src/xnat/client.ts, src/xnat/state.ts) against the fake XNAT on loopback:
 * the login and its reuse, 401 and one new login, an expired password answered with the login page, exact label
 * matches, the prearchive, the archive, a shared experiment, a slow XNAT (timeouts, retries), a down XNAT, answers
 * that are not what the API documents, redirects, and no password or cookie in any message.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { XnatClient, XnatError, type XnatEndpoint } from '../../src/xnat/client';
import { readXnatState, type XnatTarget } from '../../src/xnat/state';
import { FakeXnat, xnatFixture } from '../support/fake-xnat';

const PROJECT = 'SPN01_CMH';
let xnat: FakeXnat;
let endpoint: XnatEndpoint;
let target: XnatTarget;

beforeEach(async () => {
  xnat = await FakeXnat.start({ timeZone: 'America/Toronto' });
  xnat.addProject(PROJECT);
  endpoint = { url: xnat.url, user: xnat.user, password: xnat.password };
  target = { configId: 1, projectId: 1, endpoint, project: PROJECT, timeZone: 'America/Toronto' };
});
afterEach(async () => {
  await xnat.close();
});

/** A client that gives up fast (the defaults are for a real XNAT). */
const fastClient = (options: ConstructorParameters<typeof XnatClient>[0] = {}) =>
  new XnatClient({ timeoutMs: 1_000, retries: 2, backoffMs: 20, ...options });

async function failure(promise: Promise<unknown>): Promise<XnatError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(XnatError);
  return err as XnatError;
}

/** No message may hold the password or a session id the fake gave out. */
function expectNoSecrets(text: string): void {
  expect(text).not.toContain(xnat.password);
  for (const session of xnat.issued) expect(text).not.toContain(session);
}

describe('login', () => {
  test('one login (POST data/JSESSION, basic auth), reused by the requests that follow', async () => {
    const client = fastClient();
    await client.listPrearchive(endpoint, PROJECT);
    await client.listExperiments(endpoint, PROJECT);
    expect(xnat.calls.map((call) => `${call.method} ${call.path} ${call.status}`)).toEqual([
      'POST /data/JSESSION 200',
      `GET /data/prearchive/projects/${PROJECT} 200`,
      `GET /data/projects/${PROJECT}/experiments 200`,
    ]);
    expect(xnat.calls.slice(1).every((call) => call.session)).toBe(true);
    expect(client.counts).toEqual({ requests: 3, logins: 1 });
  });

  test('concurrent requests share one login', async () => {
    const client = fastClient();
    await Promise.all([1, 2, 3, 4].map(() => client.listPrearchive(endpoint, PROJECT)));
    expect(xnat.calls.filter((call) => call.path === '/data/JSESSION')).toHaveLength(1);
  });

  test.each([[401 as const], ['login-page' as const]])(
    'a session XNAT ended (answered %s) gets one new login, and the request is made again',
    async (answer) => {
      const client = fastClient();
      await client.listPrearchive(endpoint, PROJECT);
      xnat.expireSessions(answer);
      const from = xnat.calls.length;
      await client.listPrearchive(endpoint, PROJECT);
      expect(xnat.callsSince(from).map((call) => `${call.method} ${call.path} ${call.status}`)).toEqual([
        `GET /data/prearchive/projects/${PROJECT} ${answer === 401 ? 401 : 200}`,
        'POST /data/JSESSION 200',
        `GET /data/prearchive/projects/${PROJECT} 200`,
      ]);
      expect(client.counts.logins).toBe(2);
    },
  );

  test('an expired password (200 with the login page) is "XNAT login failed", not a JSON error; asked again, it logs in again', async () => {
    xnat.expirePassword();
    const client = fastClient();
    const err = await failure(client.listPrearchive(endpoint, PROJECT));
    expect(err.type).toBe('XnatLoginFailed');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(
      /^XNAT login failed at http:\/\/127\.0\.0\.1:\d+\/: .*HTML page.*password of user xnat-reader has probably expired/,
    );
    expect(err.message).not.toMatch(/JSON/);
    expectNoSecrets(err.message);
    // A failed login is not kept: once the password is renewed, the next request logs in.
    xnat.heal();
    await expect(client.listPrearchive(endpoint, PROJECT)).resolves.toEqual([]);
    expect(client.counts.logins).toBe(2);
  });

  test('a wrong password is "XNAT login failed" naming the user, never the password', async () => {
    const err = await failure(fastClient().listPrearchive({ ...endpoint, password: 'wrong-password-123' }, PROJECT));
    expect(err.type).toBe('XnatLoginFailed');
    expect(err.message).toMatch(/user xnat-reader was refused \(401\); check the user and password/);
    expect(err.message).not.toContain('wrong-password-123');
  });
});

describe('what XNAT has for a session', () => {
  test('archived: an exact label match only (XNAT’s filter matches wildcards), since its insert time, with its scans', async () => {
    const insertedAt = new Date('2026-11-20T19:40:12.900Z'); // 14:40 in Toronto, as XNAT writes it
    const id = xnat.addExperiment({ project: PROJECT, label: 'SPN01_CMH_0001_01_01', insertedAt, scans: 5 });
    // Found by XNAT's filter (SPN01_CMH_0001_01*, where "_" is any character), but naming other sessions.
    xnat.addExperiment({ project: PROJECT, label: 'SPN01_CMH_0001_01_02', scans: 2 });
    xnat.addExperiment({ project: PROJECT, label: 'SPN01XCMHX0001X01_01', scans: 2 });
    xnat.addExperiment({ project: PROJECT, label: 'SPN01_CMH_0001_011', scans: 2 });
    const client = fastClient();
    const rows = await client.experimentsLabelled(endpoint, PROJECT, ['SPN01_CMH_0001_01*']);
    expect(rows.map((row) => row.label).sort()).toEqual([
      'SPN01XCMHX0001X01_01',
      'SPN01_CMH_0001_011',
      'SPN01_CMH_0001_01_01',
      'SPN01_CMH_0001_01_02',
    ]);
    const now = new Date('2026-11-22T12:00:00Z');
    expect(await readXnatState(client, target, 'SPN01_CMH_0001_01_01', now)).toEqual({
      state: 'archived',
      since: insertedAt.toISOString(),
      scans: 5,
      checkedAt: now.toISOString(),
      experiment: id,
    });
  });

  test('a KCNI label names its session; a datman label without its session number names session 01', async () => {
    xnat.addExperiment({ project: PROJECT, label: 'SPN01_CMH_0002_01_SE01_MR', scans: 3 });
    xnat.addExperiment({ project: PROJECT, label: 'SPN01_CMH_0003_01', scans: 4 });
    const client = fastClient();
    expect(await readXnatState(client, target, 'SPN01_CMH_0002_01_01')).toMatchObject({ state: 'archived', scans: 3 });
    expect(await readXnatState(client, target, 'SPN01_CMH_0003_01_01')).toMatchObject({ state: 'archived', scans: 4 });
    expect(await readXnatState(client, target, 'SPN01_CMH_0003_01_02')).toMatchObject({ state: 'absent' });
  });

  test('a session shared into the project under our label, owned by another project under another', async () => {
    const insertedAt = new Date('2026-11-20T17:00:00Z');
    const id = xnat.addExperiment({
      project: 'CMH_SCANNER',
      label: 'CMH_20261120_P0003',
      insertedAt,
      scans: 7,
      shares: [{ project: PROJECT, label: 'SPN01_CMH_0003_01_01' }],
    });
    const client = fastClient();
    // Its row in our project's listing carries the label of its share and its owner's project.
    expect(await client.listExperiments(endpoint, PROJECT)).toEqual([
      expect.objectContaining({ id, label: 'SPN01_CMH_0003_01_01', project: 'CMH_SCANNER' }),
    ]);
    const from = xnat.calls.length;
    expect(await readXnatState(client, target, 'SPN01_CMH_0003_01_01')).toMatchObject({
      state: 'archived',
      since: insertedAt.toISOString(),
      scans: 7,
    });
    // XNAT's label filter compares the owner's label: the share's label is asked next.
    expect(xnat.callsSince(from).map((call) => Object.keys(call.query).find((key) => key.includes('label')))).toEqual([
      'label',
      'xnat:experimentData/sharing/share/label',
      undefined, // the scans
    ]);
  });

  test('in the prearchive, since it was uploaded; absent when neither archive nor prearchive has it', async () => {
    const uploadedAt = new Date('2026-11-20T15:30:00.250Z');
    xnat.addPrearchive({ project: PROJECT, name: 'SPN01_CMH_0001_01_01', uploadedAt });
    xnat.addPrearchive({ project: PROJECT, name: 'SPN01_CMH_0001_01_02' });
    xnat.addPrearchive({ project: 'SPN01_ZHH', name: 'SPN01_CMH_0009_01_01' });
    const client = fastClient();
    expect(await readXnatState(client, target, 'SPN01_CMH_0001_01_01')).toMatchObject({
      state: 'prearchive',
      since: uploadedAt.toISOString(),
    });
    const absent = await readXnatState(client, target, 'SPN01_CMH_0009_01_01');
    expect(absent).toEqual({ state: 'absent', checkedAt: expect.any(String) });
    // Archived wins over a later upload of the same session waiting in the prearchive.
    xnat.archive(PROJECT, 'SPN01_CMH_0001_01_02', { scans: 2 });
    xnat.addPrearchive({ project: PROJECT, name: 'SPN01_CMH_0001_01_02' });
    expect(await readXnatState(client, target, 'SPN01_CMH_0001_01_02')).toMatchObject({ state: 'archived', scans: 2 });
  });

  test('an unknown project: unreachable, with XNAT’s reason', async () => {
    const state = await readXnatState(fastClient(), { ...target, project: 'NOPE' }, 'SPN01_CMH_0001_01_01');
    expect(state).toMatchObject({ state: 'unreachable' });
    expect(state.reason).toMatch(
      /XNAT answered 404 to the request for the experiments of project NOPE: Unable to identify project NOPE/,
    );
  });
});

describe('a slow, failing or down XNAT', () => {
  test('a slow answer times out and is tried again, with backoff', async () => {
    xnat.addPrearchive({ project: PROJECT, name: 'SPN01_CMH_0001_01_01' });
    const client = fastClient({ timeoutMs: 300 });
    await client.listPrearchive(endpoint, PROJECT); // logged in
    xnat.slow(1_000, 1);
    const from = xnat.calls.length;
    expect(await client.listPrearchive(endpoint, PROJECT)).toHaveLength(1);
    expect(xnat.callsSince(from).map((call) => call.path)).toEqual([
      `/data/prearchive/projects/${PROJECT}`,
      `/data/prearchive/projects/${PROJECT}`,
    ]);
  });

  test('too slow every time: unreachable, saying it gave no answer in time, after the retries', async () => {
    const client = fastClient({ timeoutMs: 200, retries: 2 });
    await client.listPrearchive(endpoint, PROJECT);
    xnat.slow(1_000);
    const from = xnat.calls.length;
    const state = await readXnatState(client, target, 'SPN01_CMH_0001_01_01');
    expect(state.state).toBe('unreachable');
    expect(state.reason).toMatch(
      /^XNAT at http:\/\/127\.0\.0\.1:\d+\/ gave no answer within 0\.2 s \(the experiments of project SPN01_CMH; 3 tries\)$/,
    );
    expect(xnat.callsSince(from)).toHaveLength(3);
  });

  test('5xx answers are tried again; still failing, unreachable with the status', async () => {
    xnat.addPrearchive({ project: PROJECT, name: 'SPN01_CMH_0001_01_01' });
    const client = fastClient();
    xnat.failNext(2, 503);
    expect(await client.listPrearchive(endpoint, PROJECT)).toHaveLength(1); // the login was tried three times
    xnat.failNext(3, 502);
    const err = await failure(client.listPrearchive(endpoint, PROJECT));
    expect(err).toMatchObject({ type: 'XnatUnavailable', retryable: true });
    expect(err.message).toMatch(
      /XNAT answered 502 to the request for the prearchive of project SPN01_CMH: 503 Service/,
    );
  });

  test('down: unreachable, the connection refused; up again, it answers', async () => {
    const client = fastClient();
    await xnat.down();
    const state = await readXnatState(client, target, 'SPN01_CMH_0001_01_01');
    expect(state).toMatchObject({ state: 'unreachable' });
    expect(state.reason).toMatch(/could not be reached \(ECONNREFUSED\) \(the login of user xnat-reader; 3 tries\)/);
    await xnat.up();
    expect(await readXnatState(client, target, 'SPN01_CMH_0001_01_01')).toMatchObject({ state: 'absent' });
  });
});

describe('answers that are not what XNAT’s API documents', () => {
  test.each([
    [
      'JSON without a ResultSet',
      '{"items": []}',
      'application/json',
      /JSON that is not an XNAT listing \(ResultSet: Required/,
    ],
    [
      'a ResultSet without Result',
      '{"ResultSet": {}}',
      'application/json',
      /not an XNAT listing \(ResultSet\.Result: Required/,
    ],
    ['a list', '[]', 'application/json', /not an XNAT listing/],
    [
      'a row without ID',
      '{"ResultSet": {"Result": [{"label": "X"}]}}',
      'application/json',
      /a row without ID \(row 1\)/,
    ],
    [
      'a proxy’s HTML page',
      '<html><body><h1>Maintenance</h1></body></html>',
      'text/html',
      /\(200, text\/html\) with something other than JSON: Maintenance/,
    ],
    ['a cut answer', '{"ResultSet": {"Result": [', 'application/json', /with something other than JSON/],
  ])('%s: a clear error, and the state unreachable with it', async (_, body, type, expected) => {
    const client = fastClient();
    await client.listPrearchive(endpoint, PROJECT);
    xnat.answerNext(1, body, { type });
    const state = await readXnatState(client, target, 'SPN01_CMH_0001_01_01');
    expect(state.state).toBe('unreachable');
    expect(state.reason).toMatch(expected);
    expectNoSecrets(state.reason!);
  });

  test('archived, but its scans cannot be read: archived, without scans, saying why', async () => {
    xnat.addExperiment({ project: PROJECT, label: 'SPN01_CMH_0001_01_01', scans: 2 });
    xnat.failNext(3, 500, '/scans');
    const state = await readXnatState(fastClient(), target, 'SPN01_CMH_0001_01_01');
    expect(state).toMatchObject({ state: 'archived', experiment: expect.any(String) });
    expect(state.scans).toBeUndefined();
    expect(state.reason).toMatch(
      /^its scans could not be read: XNAT answered 500 to the request for the scans of experiment XNAT_E00001/,
    );
  });
});

describe('only the configured URL', () => {
  test('a redirect is refused, not followed: the other server is never called', async () => {
    let elsewhereCalls = 0;
    const elsewhere = http.createServer((_, res) => {
      elsewhereCalls += 1;
      res.end('{"ResultSet": {"Result": []}}');
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    try {
      const location = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/data/prearchive/projects/X`;
      const client = fastClient();
      await client.listPrearchive(endpoint, PROJECT);
      xnat.answerNext(1, '', { status: 302, headers: { location } });
      const err = await failure(client.listPrearchive(endpoint, PROJECT));
      expect(err.type).toBe('XnatRedirected');
      expect(err.message).toMatch(/answered 302 .*\(a redirect, not followed: set the XNAT config's url/);
      expect(elsewhereCalls).toBe(0);
    } finally {
      await new Promise<void>((resolve) => elsewhere.close(() => resolve()));
    }
  });

  test('ids are escaped into the path: an experiment id cannot leave the configured server', async () => {
    const client = fastClient();
    const err = await failure(client.listScans(endpoint, '../../../evil?x=1'));
    expect(err.type).toBe('XnatNotFound');
    expect(xnat.calls.at(-1)?.path).toBe('/data/experiments/..%2F..%2F..%2Fevil%3Fx%3D1/scans');
  });

  test('a base URL under a path keeps it (https://host/xnat/)', async () => {
    const under = await FakeXnat.start({ basePath: '/xnat/' });
    try {
      under.addPrearchive({ project: PROJECT, name: 'SPN01_CMH_0001_01_01' });
      const client = fastClient();
      const at = { url: under.url.replace(/\/$/, ''), user: under.user, password: under.password };
      expect(await client.listPrearchive(at, PROJECT)).toHaveLength(1);
      expect(under.calls.map((call) => call.path)).toEqual([
        '/xnat/data/JSESSION',
        `/xnat/data/prearchive/projects/${PROJECT}`,
      ]);
      // The server's root is not XNAT: a config that leaves the path out gets XNAT's 404, not another page.
      const err = await failure(client.listPrearchive({ ...at, url: under.url.replace(/xnat\/$/, '') }, PROJECT));
      expect(err.message).toMatch(/XNAT answered 404 to the request for the login of user xnat-reader/);
    } finally {
      await under.close();
    }
  });
});

test('the fixtures are what the fake answers: a project listing with XNAT’s default columns', async () => {
  xnat.addExperiment({ project: PROJECT, label: 'SPN01_CMH_0001_01_01' });
  const client = fastClient();
  await client.listPrearchive(endpoint, PROJECT);
  const cookie = `JSESSIONID=${xnat.issued[0]}`;
  const res = await fetch(`${xnat.url}data/projects/${PROJECT}/experiments?format=json`, { headers: { cookie } });
  const listing = (await res.json()) as { ResultSet: { Result: Array<Record<string, string>> } };
  const fixture = JSON.parse(xnatFixture('experiments.json')) as typeof listing;
  expect(Object.keys(listing.ResultSet.Result[0])).toEqual(Object.keys(fixture.ResultSet.Result[0]));
});
