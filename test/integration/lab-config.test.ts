/**
 * `config apply` on real PostgreSQL: one transaction, idempotent, updates in place, a bad file changes
 * nothing; and the CLI itself, run as a child process the way operators run it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { RedcapConfig, StudySite, User } from '../../src/db/entities';
import { XnatConfig, XnatProject } from '../../src/db/xnat';
import type { Orm } from '../../src/db/orm';
import { applyLabConfig, formatReport, LabConfigError, parseLabConfig, type ApplyReport } from '../../src/lab-config';
import { createTestDatabase } from '../support/db';
import { runCli } from '../support/processes';

const FIXTURE = path.resolve(__dirname, '..', '..', 'examples', 'lab-config.yml');
const fixture = fs.readFileSync(FIXTURE, 'utf8');
const env = {
  REDCAP_TOKEN_SPN01: 'token-classic-0123',
  REDCAP_TOKEN_SPN01_LONG: 'token-long-4567',
  XNAT_USER: 'xnat-reader',
  XNAT_PASSWORD: 'xnat-password-89',
};
const TABLES = ['study', 'site', 'study_site', 'app_user', 'redcap_config', 'xnat_config', 'xnat_project'];

let orm: Orm;
let url: string;

beforeEach(async () => {
  ({ orm, url } = await createTestDatabase());
});
afterEach(async () => {
  await orm.close();
});

async function apply(source: string, environment: NodeJS.ProcessEnv = env): Promise<ApplyReport> {
  const parsed = parseLabConfig(source, { env: environment, file: 'lab.yml' });
  return applyLabConfig(orm.em.fork(), parsed.config, parsed);
}

/** Every row the config touches, for "nothing changed" checks. */
async function snapshot(): Promise<Record<string, unknown[]>> {
  const connection = orm.em.getConnection();
  const rows: Record<string, unknown[]> = {};
  for (const table of TABLES) rows[table] = await connection.execute(`select * from "${table}" order by 1`);
  return rows;
}

/** The 1-based line of the first line of `source` containing `text`. */
function lineOf(source: string, text: string): number {
  return source.split('\n').findIndex((line) => line.includes(text)) + 1;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function actions(report: ApplyReport): string[] {
  return report.changes.map(
    (change) =>
      `${change.kind} ${change.name}: ${change.action}${change.fields.length ? ` (${change.fields.join(', ')})` : ''}`,
  );
}

test('the fixture creates every entity; applying it again changes nothing', async () => {
  const first = await apply(fixture);
  expect(first.changed).toBe(true);
  expect(first.changes.map((change) => change.action)).toEqual(Array(12).fill('created'));
  expect(actions(first)).toContain('study site SPN01 at ZHH: created');

  const em = orm.em.fork();
  const zhh = await em.findOneOrFail(StudySite, { study: 'SPN01', site: 'ZHH' });
  expect(zhh).toMatchObject({ code: 'SPN01', usesRedcap: true, downloadScript: null, postDownloadScript: null });
  expect(await em.findOneOrFail(StudySite, { study: 'SPN01', site: 'CMH' })).toMatchObject({
    code: 'SPN01',
    downloadScript: 'download.sh',
  });
  expect(await em.findOneOrFail(User, { name: 'Ada Admin' })).toMatchObject({ email: 'ada@example.org', admin: true });
  expect(await em.findOneOrFail(RedcapConfig, { project: 1234 })).toMatchObject({
    url: 'https://redcap.example.org/',
    instrument: 'mri_scan_log',
    version: '14.5.2',
    token: 'token-classic-0123',
    sessionField: 'session_id',
    dateField: 'scan_date',
    commentField: 'comments',
    userField: 'ra_id',
    completedField: 'mri_scan_log_complete',
    completedValue: '2',
  });
  expect(await em.findOneOrFail(RedcapConfig, { project: 2001 })).toMatchObject({
    userField: null,
    token: 'token-long-4567',
  });

  const before = await snapshot();
  const second = await apply(fixture);
  expect(second.changed).toBe(false);
  expect(second.changes.map((change) => change.action)).toEqual(Array(12).fill('unchanged'));
  expect(formatReport(second).at(-1)).toMatch(/^nothing changed/);
  expect(await snapshot()).toEqual(before);
});

test('a changed field is updated in place, and only what changed is reported', async () => {
  await apply(fixture);
  const em = orm.em.fork();
  const ids = {
    cmh: (await em.findOneOrFail(StudySite, { study: 'SPN01', site: 'CMH' })).id,
    rui: (await em.findOneOrFail(User, { name: 'Rui Assistant' })).id,
    long: (await em.findOneOrFail(RedcapConfig, { project: 2001 })).id,
  };
  const changed = fixture
    .replace('name: Social Processes Network', 'name: Social Processes Network 2')
    .replace('        postDownloadScript: post_download.sh\n', '')
    .replace('    admin: false', '    admin: true')
    .replace(
      'completed: scan_visit_complete\n      completedValue: "2"',
      'completed: scan_visit_complete\n      completedValue: "1"',
    )
    .replace('https://redcap.example.org/\n    project: 2001', 'https://REDCAP.example.org\n    project: 2001');
  const report = await apply(changed, { ...env, REDCAP_TOKEN_SPN01_LONG: 'a-new-token' });

  expect(actions(report)).toEqual([
    'study SPN01: updated (name)',
    'site CMH: unchanged',
    'site ZHH: unchanged',
    'study site SPN01 at CMH: updated (postDownloadScript)',
    'study site SPN01 at ZHH: unchanged',
    'user "Ada Admin": unchanged',
    'user "Rui Assistant": updated (admin)',
    'REDCap config project 1234 instrument mri_scan_log at https://redcap.example.org/: unchanged',
    'REDCap config project 2001 instrument scan_visit at https://redcap.example.org/: updated (token, fields.completedValue)',
    'XNAT server https://xnat.example.org/: unchanged',
    'XNAT project SPN01_CMH at https://xnat.example.org/: unchanged',
    'XNAT project SPN01_ZHH at https://xnat.example.org/: unchanged',
  ]);
  expect(formatReport(report).join('\n')).not.toContain('a-new-token');

  const after = orm.em.fork();
  expect(await after.count(StudySite)).toBe(2);
  expect(await after.count(User)).toBe(2);
  expect(await after.count(RedcapConfig)).toBe(2);
  expect(await after.findOneOrFail(StudySite, ids.cmh)).toMatchObject({
    postDownloadScript: null,
    downloadScript: 'download.sh',
  });
  expect(await after.findOneOrFail(User, ids.rui)).toMatchObject({ admin: true });
  expect(await after.findOneOrFail(RedcapConfig, ids.long)).toMatchObject({
    token: 'a-new-token',
    completedValue: '1',
  });
});

test('entities in the database but not in the file are left alone', async () => {
  await apply(fixture);
  const report = await apply('users:\n  - name: Ada Admin\n    email: ada@example.org\n    admin: true\n');
  expect(actions(report)).toEqual(['user "Ada Admin": unchanged']);
  const em = orm.em.fork();
  expect(await em.count(User)).toBe(2);
  expect(await em.count(StudySite)).toBe(2);
  expect(await em.count(RedcapConfig)).toBe(2);
});

test('users: staff and the studies they see are kept, changed and cleared like any field', async () => {
  await apply(fixture);
  const rui = async () => orm.em.fork().findOneOrFail(User, { name: 'Rui Assistant' }, { populate: ['studies'] });
  expect(await rui()).toMatchObject({ admin: false, staff: true });
  expect((await rui()).studies.getIdentifiers()).toEqual(['SPN01']);

  const everything = fixture.replace('    studies: [SPN01]           # and sees only these studies\n', '');
  expect(actions(await apply(everything))).toContain('user "Rui Assistant": updated (studies)');
  expect((await rui()).studies.getIdentifiers()).toEqual([]);
  expect(actions(await apply(everything))).toContain('user "Rui Assistant": unchanged');
});

test('a user may only be limited to studies that exist, and not to none', async () => {
  await apply(fixture);
  const before = await snapshot();
  const unknown = fixture.replace('studies: [SPN01]', 'studies: [SPN01, NOPE9]');
  await expect(apply(unknown)).rejects.toThrow(/users\[1\]\.studies: no study NOPE9 \(in the file or the database\)/);
  await expect(apply(fixture.replace('studies: [SPN01]', 'studies: []'))).rejects.toThrow(
    /users\[1\]\.studies: list at least one study, or leave studies out/,
  );
  const twice = fixture.replace('    email: rui@example.org', '    email: ADA@example.org');
  await expect(apply(twice)).rejects.toThrow(/email ADA@example.org is listed twice/);
  expect(await snapshot()).toEqual(before);
});

test("a site's quietAfter and a user's digest and studies are stored; the same again changes nothing", async () => {
  const file = fixture
    .replace('      - site: ZHH\n', '      - site: ZHH\n        quietAfter: 2 weeks\n')
    .replace('    admin: false', '    admin: false\n    digest: true');
  expect(actions(await apply(file))).toContain('user "Rui Assistant": created');
  const em = orm.em.fork();
  expect(await em.findOneOrFail(StudySite, { site: 'ZHH' })).toMatchObject({ quietAfterSeconds: 14 * 86_400 });
  const rui = await em.findOneOrFail(User, { name: 'Rui Assistant' }, { populate: ['studies'] });
  expect(rui).toMatchObject({ digest: true });
  expect(rui.studies.getIdentifiers()).toEqual(['SPN01']);
  const again = await apply(file);
  expect(again.changed).toBe(false);
  expect(actions(await apply(file.replace('studies: [SPN01]', 'studies: [SPN01, SPN01]')))).toContain(
    'user "Rui Assistant": unchanged',
  );
  expect(actions(await apply(file.replace('        quietAfter: 2 weeks\n', '')))).toContain(
    'study site SPN01 at ZHH: updated (quietAfter)',
  );
});

test("a user's studies must be studies, in the file or the database", async () => {
  const file = fixture.replace('studies: [SPN01]', 'studies: [SPN01, NOPE9]');
  const before = await snapshot();
  const err = await apply(file).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LabConfigError);
  expect((err as LabConfigError).lines()).toEqual([
    `lab.yml line ${lineOf(file, 'studies: [SPN01, NOPE9]')}: users[1].studies: no study NOPE9 (in the file or the database)`,
  ]);
  expect(await snapshot()).toEqual(before);
});

describe('a bad file changes nothing and says where it is wrong', () => {
  test.each([
    [
      'a value of the wrong type',
      fixture.replace('    admin: false', '    admin: maybe'),
      'admin: maybe',
      'users[1].admin: expected true or false, found text',
    ],
    [
      'an unknown key',
      fixture.replace('    admin: false', '    admin: false\n    role: ra'),
      'role: ra',
      'users[1].role: unknown key',
    ],
    [
      'a missing environment variable',
      fixture.replace('${REDCAP_TOKEN_SPN01_LONG}', '${NOT_SET_ANYWHERE}'),
      'NOT_SET_ANYWHERE',
      'environment variable NOT_SET_ANYWHERE is not set',
    ],
    [
      'a YAML syntax error',
      fixture.replace('  - name: Rui Assistant', '  - name: [Rui Assistant'),
      null,
      'not valid YAML: ',
    ],
  ])('%s', async (_what, source, marker, message) => {
    await apply(fixture);
    const before = await snapshot();
    // The rest of the file changes things, so a partial apply would show.
    const bad = source
      .replace('name: Social Processes Network', 'name: Renamed')
      .replace('email: ada@example.org', 'email: ada@example.com');
    const error = await apply(bad).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(LabConfigError);
    const lines = (error as LabConfigError).lines();
    expect(lines).toHaveLength(1);
    const line = marker ? lineOf(source, marker) : '\\d+';
    expect(lines[0]).toMatch(new RegExp(`^lab\\.yml line ${line}: ${escape(message)}`));
    expect(await snapshot()).toEqual(before);
  });

  test('a code another study holds at a site rolls the whole transaction back', async () => {
    await apply('studies:\n  - id: OTHER\n    name: Other\n    sites:\n      - site: CMH\n        code: SPN01\n');
    const before = await snapshot();
    const error = await apply(fixture).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(LabConfigError);
    expect((error as LabConfigError).lines()).toEqual([
      `lab.yml line ${lineOf(fixture, 'code: SPN01')}: studies[0].sites[0].code: code SPN01 at site CMH is already used by study OTHER (in the database)`,
    ]);
    // The study SPN01, and everything before the conflict, were rolled back.
    expect(await snapshot()).toEqual(before);
  });

  test('a code may move from one study to another in the same file', async () => {
    await apply('studies:\n  - id: OTHER\n    name: Other\n    sites:\n      - site: CMH\n        code: SPN01\n');
    const report = await apply(
      `${fixture.replace('studies:\n', 'studies:\n  - id: OTHER\n    name: Other\n    sites:\n      - site: CMH\n        code: OTH\n')}`,
    );
    expect(actions(report)).toContain('study site OTHER at CMH: updated (code)');
    expect(actions(report)).toContain('study site SPN01 at CMH: created');
  });
});

describe('xnat:', () => {
  /** The XNAT part of a file, for studies and sites already in the database. */
  const xnatOnly = (projects: string, password = '${XNAT_PASSWORD}') =>
    `xnat:\n  - url: https://xnat.example.org/\n    user: \${XNAT_USER}\n    password: ${password}\n    projects:\n${projects}`;

  async function refusal(source: string): Promise<string[]> {
    const error = await apply(source).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(LabConfigError);
    return (error as LabConfigError).lines();
  }

  test('the server and its projects are stored, each project with its study at its site', async () => {
    await apply(fixture);
    const em = orm.em.fork();
    const server = await em.findOneOrFail(XnatConfig, { url: 'https://xnat.example.org/' });
    expect(server).toMatchObject({ user: 'xnat-reader', password: 'xnat-password-89', timezone: 'America/Toronto' });
    const projects = await em.find(XnatProject, {}, { populate: ['studySite'], orderBy: { project: 'asc' } });
    expect(projects.map((p) => [p.project, p.studySite.study.id, p.studySite.site.id, p.config.id])).toEqual([
      ['SPN01_CMH', 'SPN01', 'CMH', server.id],
      ['SPN01_ZHH', 'SPN01', 'ZHH', server.id],
    ]);
  });

  test('a new password is "updated (password)", never its value; a project moved to another site is updated', async () => {
    await apply(fixture);
    const renamed = fixture
      .replace('project: SPN01_ZHH', 'project: SPN01_ZHH_OLD')
      .replace('timezone: America/Toronto', 'timezone: UTC');
    await expect(apply(renamed)).rejects.toThrow(/SPN01 at ZHH already has XNAT project SPN01_ZHH \(in the database\)/);
    const report = await apply(fixture, { ...env, XNAT_PASSWORD: 'renewed-password' });
    expect(actions(report)).toContain('XNAT server https://xnat.example.org/: updated (password)');
    expect(formatReport(report).join('\n')).not.toContain('renewed-password');
    // Moving SPN01_ZHH to CMH while SPN01_CMH goes elsewhere: the projects that exist move first.
    await apply('studies:\n  - id: SPN02\n    name: Second\n    sites: [{ site: CMH }]\n');
    const moves = await apply(
      xnatOnly(
        '      - { project: SPN01_CMH, study: SPN02, site: CMH }\n      - { project: SPN01_ZHH, study: SPN01, site: CMH }\n',
      ),
    );
    expect(actions(moves).slice(1)).toEqual([
      'XNAT project SPN01_CMH at https://xnat.example.org/: updated (study/site)',
      'XNAT project SPN01_ZHH at https://xnat.example.org/: updated (study/site)',
    ]);
  });

  test('a study or site that is neither in the file nor in the database is named; nothing is applied', async () => {
    await apply(fixture);
    const before = await snapshot();
    const source = xnatOnly(
      '      - { project: P1, study: SPN01, site: CMH }\n      - { project: P2, study: SPN01, site: XYZ }\n      - { project: P3, study: NOPE, site: CMH }\n',
      'changed-password',
    );
    expect(await refusal(source)).toEqual([
      `lab.yml line ${lineOf(source, 'project: P2')}: xnat[0].projects[1].site: study SPN01 has no site XYZ (in this file or the database)`,
      `lab.yml line ${lineOf(source, 'project: P3')}: xnat[0].projects[2].study: no study NOPE (in this file or the database)`,
    ]);
    expect(await snapshot()).toEqual(before);
  });

  test('a study site another project holds in the database is refused, naming it', async () => {
    await apply(fixture);
    const source = xnatOnly('      - { project: SPN01_CMH_NEW, study: SPN01, site: CMH }\n');
    expect(await refusal(source)).toEqual([
      `lab.yml line ${lineOf(source, 'SPN01_CMH_NEW')}: xnat[0].projects[0].site: SPN01 at CMH already has XNAT project SPN01_CMH (in the database); a study at a site has one XNAT project`,
    ]);
  });
});

describe('the CLI (npm run cli), as a child process', () => {
  const cli = (args: string[], extraEnv: Record<string, string>) => runCli(args, { LOG_LEVEL: 'info', ...extraEnv });

  /** A database with no tables at all, beside the test database. */
  async function emptyDatabase(): Promise<string> {
    const name = `cli_${randomUUID().replace(/-/g, '')}`;
    const admin = new Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create database ${name}`).finally(() => admin.end());
    const emptyUrl = new URL(url);
    emptyUrl.pathname = `/${name}`;
    return emptyUrl.toString();
  }

  test('migrate, then config apply twice: the second time nothing changed', async () => {
    const DATABASE_URL = await emptyDatabase();

    const migrated = await cli(['migrate'], { DATABASE_URL });
    expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({ code: 0, stderr: '' });
    expect(migrated.stdout).toMatch(/^applied migrations: Migration\d+/);
    expect((await cli(['migrate'], { DATABASE_URL })).stdout).toBe('database schema up to date\n');

    const first = await cli(['config', 'apply', FIXTURE], { DATABASE_URL, ...env });
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    expect(first.stdout).toContain('study SPN01: created');
    expect(first.stdout.trim().split('\n').at(-1)).toBe('12 created, 0 updated, 0 unchanged');

    const second = await cli(['config', 'apply', FIXTURE], { DATABASE_URL, ...env });
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: '' });
    expect(second.stdout.trim().split('\n').at(-1)).toBe('nothing changed (12 entries already up to date)');

    for (const output of [first, second]) {
      expect(output.stdout + output.stderr).not.toContain(env.REDCAP_TOKEN_SPN01);
      expect(output.stdout + output.stderr).not.toContain(env.REDCAP_TOKEN_SPN01_LONG);
      expect(output.stdout + output.stderr).not.toContain(env.XNAT_PASSWORD);
    }
  });

  test('config apply migrates an empty database first', async () => {
    const DATABASE_URL = await emptyDatabase();
    const result = await cli(['config', 'apply', FIXTURE], { DATABASE_URL, ...env });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^applied migrations: /);
    expect(result.stdout).toContain('12 created');
  });

  test('errors: exit code 1 and one line naming the problem, no stack trace', async () => {
    const missingVar = await cli(['config', 'apply', FIXTURE], {
      DATABASE_URL: url,
      REDCAP_TOKEN_SPN01: 'x',
      XNAT_USER: 'u',
      XNAT_PASSWORD: 'p',
    });
    expect(missingVar).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: ${FIXTURE} line ${lineOf(fixture, '${REDCAP_TOKEN_SPN01_LONG}')}: environment variable REDCAP_TOKEN_SPN01_LONG is not set\n`,
    });

    const noFile = await cli(['config', 'apply', '/nonexistent/lab.yml'], { DATABASE_URL: url });
    expect(noFile).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: /nonexistent/lab.yml: cannot read the file: no such file\n',
    });

    const noDatabase = await cli(['migrate'], { DATABASE_URL: 'postgresql://someone:hunter2@127.0.0.1:1/nowhere' });
    expect(noDatabase.code).toBe(1);
    expect(noDatabase.stderr).toMatch(/^error: cannot connect to the database at 127\.0\.0\.1:1\/nowhere: .+\n$/);
    expect(noDatabase.stderr).not.toContain('hunter2');

    const badEnv = await cli(['migrate'], { DATABASE_URL: 'mysql://x' });
    expect(badEnv).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error: Invalid environment: DATABASE_URL: .+\n$/),
    });
  });
});
