/**
 * `npm run test:compose`: docker-compose.yml run for real on a Docker engine, with the stand-in images of
 * scripts/local-images.sh, and used only as a user would, through what it publishes on 127.0.0.1 (the API, the Web
 * UI, Mailpit, Temporal's port) and `docker compose` itself: the lab config applied in the CLI container, Data Entry
 * Triggers from a REDCap, the sessions filed, their monitors in the Web UI, an email in Mailpit after a worker
 * restart mid-wait, a download job registering scans from the worker container, the data kept over `down` and
 * `up`, and gone after `down -v`.
 *
 * The fake REDCap is the one exception to "loopback only": the service in the containers calls it back, so it
 * listens on the gateway address of the project's own bridge network (a private address of this machine that only
 * this machine and its containers reach), never on every interface.
 *
 * Ports: free ones on 127.0.0.1, or TEST_COMPOSE_PORT_BASE and the three after it. Project: TEST_COMPOSE_PROJECT
 * (default rsm-compose-test); whatever a failed run left of it is removed first.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { temporalCliPath } from '../../src/dev/binaries';
import { searchAttributes } from '../../surface';
import { ComposeProject } from '../support/compose';
import { FakeRedcap, detFixtureFields, redcapFixtureRows } from '../support/fake-redcap';
import { smallLabConfig } from '../support/lab-config';
import { freePort } from '../support/ports';
import { eventually } from '../support/processes';

jest.setTimeout(15 * 60_000);

const run = promisify(execFile);
const root = path.resolve(__dirname, '..', '..');
const secret = () => randomBytes(12).toString('hex');
const settings = {
  API_TOKEN: secret(),
  DET_SECRET: secret(),
  POSTGRES_PASSWORD: secret(),
  SCAN_CHECK_DELAY: '75s',
  APP_VERSION: 'compose-test',
};
const redcapToken = secret().toUpperCase();
// At ZHH (no job scripts): no scans ever come, so the email. At CMH: the download job registers a scan.
const emailed = 'SPN01_ZHH_0001_01_01';
const downloaded = 'SPN01_CMH_0002_01_01';
const records = { [emailed]: '17', [downloaded]: '18' };

let project: ComposeProject;
let ports: { api: number; ui: number; mailpit: number; temporal: number };
let workDir: string;
let redcap: FakeRedcap;
const intakeIds: Record<string, string> = {};

const api = (route: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${ports.api}${route}`, {
    ...init,
    headers: { authorization: `Bearer ${settings.API_TOKEN}`, ...init.headers },
  });

interface SessionBody {
  scans: unknown[];
  monitors: Array<Record<string, unknown>>;
}
async function session(sessionId: string): Promise<SessionBody> {
  const res = await api(`/sessions/${sessionId}`);
  expect(res.status).toBe(200);
  return (await res.json()) as SessionBody;
}
/** The session's monitors once it is filed; none before. */
async function monitorsOf(sessionId: string): Promise<SessionBody['monitors']> {
  const res = await api(`/sessions/${sessionId}`);
  return res.status === 404 ? [] : (await session(sessionId)).monitors;
}

/** The workflows the Web UI lists for `query` (its HTTP API, which its pages read). */
async function webUiWorkflows(query: string): Promise<Array<{ workflowId: string; status: string }>> {
  const res = await fetch(
    `http://127.0.0.1:${ports.ui}/api/v1/namespaces/default/workflows?query=${encodeURIComponent(query)}`,
  );
  expect(res.status).toBe(200);
  const body = (await res.json()) as { executions?: Array<{ execution: { workflowId: string }; status: string }> };
  return (body.executions ?? []).map((e) => ({ workflowId: e.execution.workflowId, status: e.status }));
}

async function mailpitMessages(): Promise<Array<{ Subject: string; To: Array<{ Address: string }> }>> {
  const res = await fetch(`http://127.0.0.1:${ports.mailpit}/api/v1/messages`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { messages: Array<{ Subject: string; To: Array<{ Address: string }> }> }).messages;
}

/** REDCap's Data Entry Trigger for a record, as REDCap posts it (form-encoded, with the secret in the URL). */
async function sendTrigger(record: string): Promise<{ status: number; body: { workflowId?: string } }> {
  const fields = {
    ...detFixtureFields('det-classic-complete.form'),
    redcap_url: redcap.url,
    project_url: `${redcap.url}redcap_v14.5.2/index.php?pid=1234`,
    record,
  };
  const res = await fetch(`http://127.0.0.1:${ports.api}/redcap?secret=${settings.DET_SECRET}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: (await res.json()) as { workflowId?: string } };
}

/** The temporal CLI on this machine, on the port the stack publishes for it. */
async function temporalCli(...args: string[]): Promise<string> {
  const cli = temporalCliPath();
  if (!cli) throw new Error('no temporal CLI: run `bash scripts/provision.sh temporal-cli`');
  const { stdout } = await run(cli, [...args, '--address', `127.0.0.1:${ports.temporal}`, '-o', 'json']);
  return stdout;
}

beforeAll(async () => {
  // The stand-in images (built once; seconds when they are there) and the variables that select them.
  const { stdout: images } = await run('bash', [path.join(root, 'scripts', 'local-images.sh')], {
    maxBuffer: 10 * 1024 * 1024,
  });
  const base = Number(process.env.TEST_COMPOSE_PORT_BASE) || undefined;
  ports = base
    ? { api: base, ui: base + 1, mailpit: base + 2, temporal: base + 3 }
    : { api: await freePort(), ui: await freePort(), mailpit: await freePort(), temporal: await freePort() };

  // Readable by the containers' users (node, temporal): the lab config and the job scripts are mounted.
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-test-'));
  fs.chmodSync(workDir, 0o755);
  const jobs = path.join(workDir, 'jobs');
  fs.mkdirSync(jobs, { mode: 0o755 });
  // The example download job, fetching nothing but registering one scan with its own helper (curl, SCAN_MONITOR_URL,
  // API_TOKEN of the worker's container).
  fs.writeFileSync(
    path.join(jobs, 'download.sh'),
    `${fs.readFileSync(path.join(root, 'scripts', 'jobs', 'download.sh'), 'utf8')}\nregister_scan "\${session}_T1_01_MPRAGE" 1 T1 "MPRAGE"\n`,
    { mode: 0o644 },
  );
  fs.copyFileSync(path.join(root, 'scripts', 'jobs', 'post_download.sh'), path.join(jobs, 'post_download.sh'));
  fs.chmodSync(path.join(jobs, 'post_download.sh'), 0o644);

  const envFile = path.join(workDir, '.env');
  const env = {
    ...settings,
    API_PORT: ports.api,
    WEB_UI_PORT: ports.ui,
    MAILPIT_PORT: ports.mailpit,
    TEMPORAL_PORT: ports.temporal,
    JOBS_DIR: jobs,
  };
  fs.writeFileSync(
    envFile,
    images +
      Object.entries(env)
        .map(([name, value]) => `${name}=${value}\n`)
        .join(''),
  );
  project = new ComposeProject({
    name: process.env.TEST_COMPOSE_PROJECT || 'rsm-compose-test',
    file: path.join(root, 'docker-compose.yml'),
    envFile,
  });

  await project.down({ volumes: true }); // what an interrupted run left
  await project.check(['build']);
  await project.up();
});

afterAll(async () => {
  if (redcap) await redcap.close();
  if (project) await project.down({ volumes: true });
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

test('up --wait: the services healthy or running, the one-shot jobs done, every port on 127.0.0.1 only', async () => {
  const states = Object.fromEntries(
    (await project.services()).map((s) => [s.Service, `${s.State}${s.Health ? ` ${s.Health}` : ''} ${s.ExitCode}`]),
  );
  expect(states).toEqual({
    postgres: 'running healthy 0',
    'temporal-schema': 'exited 0',
    temporal: 'running healthy 0',
    'temporal-setup': 'exited 0',
    'temporal-ui': 'running 0',
    mailpit: 'running healthy 0',
    migrate: 'exited 0',
    api: 'running healthy 0',
    worker: 'running 0',
  });
  const { stdout } = await run('docker', [
    'ps',
    '--filter',
    `label=com.docker.compose.project=${project.options.name}`,
    '--format',
    '{{.Ports}}',
  ]);
  const published = stdout.match(/[\d.:[\]]+->\d+\/tcp/g) ?? [];
  expect(published.sort()).toEqual(
    [
      `127.0.0.1:${ports.api}->3000/tcp`,
      `127.0.0.1:${ports.ui}->8080/tcp`,
      `127.0.0.1:${ports.mailpit}->8025/tcp`,
      `127.0.0.1:${ports.temporal}->7233/tcp`,
    ].sort(),
  );
  expect(await (await fetch(`http://127.0.0.1:${ports.api}/readyz`)).json()).toEqual({
    status: 'ready',
    database: 'ok',
    temporal: 'ok',
  });
  // The image runs as the unprivileged node user; the worker loads the bundle built into the image.
  const { stdout: user } = await run('docker', [
    'image',
    'inspect',
    '--format',
    '{{.Config.User}}',
    `redcap-scan-monitor:${settings.APP_VERSION}`,
  ]);
  expect(user.trim()).toBe('node');
  const worker = await project.logs('worker', 200);
  expect(worker).toContain('prebuilt bundle');
  expect(worker).toContain('"msg":"worker running"'); // what docs/deploying.md says to look for
});

test("temporal-setup made the namespace (30 days' retention) and our search attributes: the temporal CLI sees them", async () => {
  const namespace = JSON.parse(await temporalCli('operator', 'namespace', 'describe', '--namespace', 'default'));
  expect(namespace.config.workflowExecutionRetentionTtl).toBe('2592000s');
  const attributes = JSON.parse(await temporalCli('operator', 'search-attribute', 'list', '--namespace', 'default'));
  const custom = JSON.stringify(attributes);
  for (const { name } of searchAttributes) expect(custom).toContain(`"${name}"`);
});

test('config apply in the CLI container, then REDCap triggers file both sessions and start their monitors', async () => {
  const gateway = (
    await run('docker', [
      'network',
      'inspect',
      `${project.options.name}_default`,
      '--format',
      '{{(index .IPAM.Config 0).Gateway}}',
    ])
  ).stdout.trim();
  expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  const row = redcapFixtureRows('export-classic.json')[0];
  redcap = await FakeRedcap.start(0, gateway);
  redcap.addProject({
    token: redcapToken,
    records: Object.entries(records).map(([sessionId, record]) => ({
      ...row,
      record_id: record,
      session_id: sessionId,
    })),
  });

  // As docs/deploying.md says: the file mounted into a one-off container, the token passed by name.
  const lab = path.join(workDir, 'lab.yml');
  fs.writeFileSync(lab, smallLabConfig(redcap.url, '${REDCAP_TOKEN_SPN01}', { jobScripts: true }), { mode: 0o644 });
  const applied = await project.check(
    [
      'run',
      '--rm',
      '--no-deps',
      '-v',
      `${lab}:/lab.yml:ro`,
      '-e',
      'REDCAP_TOKEN_SPN01',
      'migrate',
      'node',
      'dist/src/cli.js',
      'config',
      'apply',
      '/lab.yml',
    ],
    { REDCAP_TOKEN_SPN01: redcapToken },
  );
  expect(applied).toMatch(/SPN01/);

  for (const [sessionId, record] of Object.entries(records)) {
    const { status, body } = await sendTrigger(record);
    expect(status).toBe(202);
    intakeIds[sessionId] = body.workflowId!;
  }
  await eventually(async () => (await monitorsOf(emailed)).length === 1, `the monitor of ${emailed}`, 120_000, 1000);
  expect((await session(emailed)).monitors).toEqual([
    expect.objectContaining({ monitor: 'scan-import', workflowId: `scan-import:${emailed}`, status: 'RUNNING' }),
  ]);
  expect(
    redcap
      .callsFor('record')
      .map((call) => call.record)
      .sort(),
  ).toEqual(['17', '18']);
});

test('restart of the worker mid-wait loses nothing: the download registers its scan, the other session gets one email', async () => {
  await project.check(['restart', 'worker']);
  // Still waiting: the worker was restarted in the middle of the wait.
  expect((await session(emailed)).monitors[0].status).toBe('RUNNING');
  expect(await mailpitMessages()).toEqual([]);

  // The download job ran in the worker's container and registered the scan through the API.
  await eventually(
    async () => (await session(downloaded)).monitors.every((monitor) => monitor.status === 'COMPLETED'),
    `the monitors of ${downloaded} to complete`,
    300_000,
    2000,
  );
  const done = await session(downloaded);
  expect(done.scans).toEqual([expect.objectContaining({ name: `${downloaded}_T1_01_MPRAGE`, series: 1, tag: 'T1' })]);
  expect(done.monitors).toEqual([
    expect.objectContaining({ monitor: 'scan-import', outcome: 'scans-present' }),
    expect.objectContaining({ monitor: 'scan-download', outcome: 'downloaded' }),
  ]);

  const subject = `[SPN01] No scan data received for ${emailed}`;
  await eventually(async () => (await mailpitMessages()).length > 0, 'the email in Mailpit', 300_000, 2000);
  await new Promise((resolve) => setTimeout(resolve, 5000)); // a second email would come now, if at all
  expect((await mailpitMessages()).map((m) => [m.Subject, m.To.map((to) => to.Address)])).toEqual([
    [subject, ['ada@example.org']],
  ]);
  expect((await session(emailed)).monitors).toEqual([
    expect.objectContaining({ monitor: 'scan-import', status: 'COMPLETED', outcome: 'email-sent' }),
  ]);
  // Mailpit shows it: its page and the scripts the page loads.
  const page = await (await fetch(`http://127.0.0.1:${ports.mailpit}/`)).text();
  expect(page).toContain('dist/app.js');
  expect((await fetch(`http://127.0.0.1:${ports.mailpit}/dist/app.js`)).status).toBe(200);
});

test("the Web UI serves its pages and lists a session's intake and monitor by SessionId", async () => {
  expect(await (await fetch(`http://127.0.0.1:${ports.ui}/`)).text()).toMatch(/<!doctype html>/i);
  let found: Array<{ workflowId: string; status: string }> = [];
  await eventually(
    async () => (found = await webUiWorkflows(`SessionId="${emailed}"`)).length === 2,
    `the Web UI to list the workflows of ${emailed}`,
    60_000,
    1000,
  );
  expect(found.map((w) => w.workflowId).sort()).toEqual([intakeIds[emailed], `scan-import:${emailed}`].sort());
});

test('down and up again: the sessions, their monitors and their histories are kept', async () => {
  await project.down({ volumes: false });
  await project.up();
  expect((await session(emailed)).monitors).toEqual([
    expect.objectContaining({ monitor: 'scan-import', status: 'COMPLETED', outcome: 'email-sent' }),
  ]);
  expect((await session(downloaded)).scans).toHaveLength(1);
  const found = await webUiWorkflows(`SessionId="${downloaded}"`);
  expect(found.map((w) => w.workflowId).sort()).toEqual(
    [intakeIds[downloaded], `scan-download:${downloaded}`, `scan-import:${downloaded}`].sort(),
  );
  // The same trigger again joins the same intake: nothing filed or started twice.
  const again = await sendTrigger(records[emailed]);
  expect(again).toEqual({ status: 202, body: expect.objectContaining({ workflowId: intakeIds[emailed] }) });
});

test('down -v deletes the data', async () => {
  await project.down({ volumes: true });
  const { stdout } = await run('docker', [
    'volume',
    'ls',
    '-q',
    '--filter',
    `label=com.docker.compose.project=${project.options.name}`,
  ]);
  expect(stdout.trim()).toBe('');
});
