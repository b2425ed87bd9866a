/** The lab config file: YAML with line numbers, ${VAR} from the environment, the strict schema. */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { expand } from '../../src/lab-config/interpolate';
import { LabConfigError, parseLabConfig } from '../../src/lab-config';
import { normalizeRedcapUrl } from '../../src/redcap/urls';

const FIXTURE = path.resolve(__dirname, '..', '..', 'examples', 'lab-config.yml');
const fixture = fs.readFileSync(FIXTURE, 'utf8');
const env = {
  REDCAP_TOKEN_SPN01: 'token-classic-0123',
  REDCAP_TOKEN_SPN01_LONG: 'token-long-4567',
  XNAT_USER: 'xnat-reader',
  XNAT_PASSWORD: 'xnat-password-89',
};

/** The problems of a file that must be refused, as the operator sees them. */
function problemsOf(source: string, environment: NodeJS.ProcessEnv = env): string[] {
  try {
    parseLabConfig(source, { env: environment, file: 'lab.yml' });
  } catch (err) {
    if (err instanceof LabConfigError) return err.lines();
    throw err;
  }
  throw new Error('the file was accepted');
}

/** The 1-based line of the first line of `source` containing `text`. */
function lineOf(source: string, text: string): number {
  const index = source.split('\n').findIndex((line) => line.includes(text));
  if (index < 0) throw new Error(`"${text}" is not in the file`);
  return index + 1;
}

describe('the fixture', () => {
  test('parses into what the database should hold', () => {
    const { config } = parseLabConfig(fixture, { env });
    expect(config.studies).toEqual([
      {
        id: 'SPN01',
        name: 'Social Processes Network',
        sites: [
          {
            site: 'CMH',
            code: 'SPN01',
            usesRedcap: true,
            downloadScript: 'download.sh',
            postDownloadScript: 'post_download.sh',
          },
          { site: 'ZHH', usesRedcap: true },
        ],
      },
    ]);
    expect(config.users).toEqual([
      { name: 'Ada Admin', email: 'ada@example.org', admin: true, staff: false, digest: false },
      { name: 'Rui Assistant', email: 'rui@example.org', admin: false, staff: true, digest: false, studies: ['SPN01'] },
    ]);
    expect(config.redcap[0]).toEqual({
      url: 'https://redcap.example.org/',
      project: 1234,
      instrument: 'mri_scan_log',
      version: '14.5.2',
      token: 'token-classic-0123',
      fields: {
        session: 'session_id',
        date: 'scan_date',
        comment: 'comments',
        user: 'ra_id',
        completed: 'mri_scan_log_complete',
        completedValue: '2',
      },
    });
    expect(config.redcap[1]).toMatchObject({ project: 2001, instrument: 'scan_visit', token: 'token-long-4567' });
    expect(config.redcap[1].fields.user).toBeUndefined();
  });

  test('lineOf points into the file', () => {
    const parsed = parseLabConfig(fixture, { env });
    expect(parsed.lineOf(['redcap', 1, 'token'])).toBe(lineOf(fixture, '${REDCAP_TOKEN_SPN01_LONG}'));
    expect(parsed.lineOf(['studies', 0, 'sites', 1, 'code'])).toBe(lineOf(fixture, 'site: ZHH')); // absent: its mapping
  });
});

describe('normalization', () => {
  const minimal = (redcapUrl: string, extra = '') => `
studies:
  - id: spn01
    name: Social
    sites:
      - site: cmh
        code: spx02
users:
  - name: Ada
redcap:
  - url: ${redcapUrl}
    project: "1234"
    instrument: mri
    version: 14.5.2
    token: t
    fields: { session: s, date: d, comment: c, completed: done, completedValue: 2 }
${extra}`;

  test('ids, codes and sites are upper case; defaults are filled in; numbers become what REDCap sends', () => {
    const { config } = parseLabConfig(minimal('https://redcap.example.org'), { env: {} });
    expect(config.studies[0]).toEqual({
      id: 'SPN01',
      name: 'Social',
      sites: [{ site: 'CMH', code: 'SPX02', usesRedcap: false }],
    });
    expect(config.users[0]).toEqual({ name: 'Ada', admin: false, staff: false, digest: false });
    expect(config.redcap[0]).toMatchObject({ url: 'https://redcap.example.org/', project: 1234 });
    expect(config.redcap[0].fields.completedValue).toBe('2');
  });

  test.each([
    ['https://redcap.example.org', 'https://redcap.example.org/'],
    ['https://redcap.example.org/', 'https://redcap.example.org/'],
    ['https://REDCap.Example.org/redcap', 'https://redcap.example.org/redcap/'],
    ['http://127.0.0.1:8080/redcap/', 'http://127.0.0.1:8080/redcap/'],
  ])('the REDCap URL %s is stored as %s', (url, stored) => {
    expect(normalizeRedcapUrl(url)).toBe(stored);
    expect(parseLabConfig(minimal(url), { env: {} }).config.redcap[0].url).toBe(stored);
  });

  test("a site's quietAfter is a duration, in whole seconds; a user's digest and studies", () => {
    const { config } = parseLabConfig(
      `studies:\n  - id: spn01\n    name: S\n    sites:\n      - site: cmh\n        quietAfter: 14 days\n` +
        `users:\n  - name: Dee\n    email: dee@example.org\n    digest: true\n    studies: [spn01]\n`,
      { env: {} },
    );
    expect(config.studies[0].sites[0]).toMatchObject({ site: 'CMH', quietAfter: 14 * 86_400 });
    expect(config.users[0]).toEqual({
      name: 'Dee',
      email: 'dee@example.org',
      admin: false,
      staff: false,
      digest: true,
      studies: ['SPN01'],
    });
    const bad = `studies:\n  - id: S1\n    name: S\n    sites:\n      - site: CMH\n        quietAfter: soon\nusers:\n  - name: Dee\n    studies: []\n    digest: yes\n`;
    expect(problemsOf(bad)).toEqual([
      expect.stringMatching(/line 6: studies\[0\]\.sites\[0\]\.quietAfter: "soon" is not a duration/),
      expect.stringMatching(/line 9: users\[0\]\.studies: list at least one study, or leave studies out/),
      expect.stringMatching(/line 10: users\[0\]\.digest: expected true or false/),
    ]);
  });

  test('sections may be left out', () => {
    expect(parseLabConfig('users:\n  - name: Ada\n', { env: {} }).config).toEqual({
      studies: [],
      users: [{ name: 'Ada', admin: false, staff: false, digest: false }],
      redcap: [],
      xnat: [],
    });
  });
});

describe('${VAR} from the environment', () => {
  test('is replaced inside values, and only there', () => {
    const source =
      'studies:\n  - id: ${STUDY}\n    name: "The ${STUDY} study (${SITE_NAME})"  # ${NOT_SET} in a comment\n';
    const { config } = parseLabConfig(source, { env: { STUDY: 'spn01', SITE_NAME: 'CAMH' } });
    expect(config.studies[0]).toMatchObject({ id: 'SPN01', name: 'The spn01 study (CAMH)' });
  });

  test('a variable that is not set is an error naming it and its line', () => {
    expect(problemsOf(fixture, { ...env, REDCAP_TOKEN_SPN01_LONG: undefined })).toEqual([
      `lab.yml line ${lineOf(fixture, '${REDCAP_TOKEN_SPN01_LONG}')}: environment variable REDCAP_TOKEN_SPN01_LONG is not set`,
    ]);
    expect(problemsOf(fixture, {})).toHaveLength(4);
  });

  test('a set but empty token is refused as empty', () => {
    expect(problemsOf(fixture, { ...env, REDCAP_TOKEN_SPN01: '' })).toEqual([
      `lab.yml line ${lineOf(fixture, '${REDCAP_TOKEN_SPN01}')}: redcap[0].token: must not be empty`,
    ]);
  });

  test('a malformed reference is an error', () => {
    expect(problemsOf('users:\n  - name: ${not-a-name}\n')).toEqual([
      'lab.yml line 2: "${not-a-name}" is not a variable reference (use ${NAME} with letters, digits and _)',
    ]);
  });

  test('text without ${ is left as it is; ${NAME} is the variable', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('${')),
        fc.string(),
        (text, value) => {
          const problems: string[] = [];
          expect(expand(text, {}, (p) => problems.push(p))).toBe(text);
          expect(expand(`a${'${'}V}b${text}`, { V: value }, (p) => problems.push(p))).toBe(`a${value}b${text}`);
          expect(problems).toEqual([]);
        },
      ),
    );
  });
});

describe('a bad file is refused with the line and the key', () => {
  test('a value of the wrong type', () => {
    const source = fixture.replace('usesRedcap: true', 'usesRedcap: "yes"');
    expect(problemsOf(source)).toEqual([
      `lab.yml line ${lineOf(source, 'usesRedcap: "yes"')}: studies[0].sites[0].usesRedcap: expected true or false, found text`,
    ]);
  });

  test('an unknown key', () => {
    const source = fixture.replace('    admin: false', '    admin: false\n    phone: 555-0100');
    expect(problemsOf(source)).toEqual([`lab.yml line ${lineOf(source, 'phone:')}: users[1].phone: unknown key`]);
  });

  test('an unknown key at the top, and one in fields, in the order of the file', () => {
    const source = fixture.replace('      user: ra_id', '      usr: ra_id').concat('\nstudys: []\n');
    expect(problemsOf(source)).toEqual([
      `lab.yml line ${lineOf(source, 'usr:')}: redcap[0].fields.usr: unknown key`,
      `lab.yml line ${lineOf(source, 'studys:')}: studys: unknown key`,
    ]);
  });

  test('a missing key points at the entry that lacks it', () => {
    const source = fixture.replace('    instrument: scan_visit\n', '');
    expect(problemsOf(source)).toEqual([
      `lab.yml line ${lineOf(source, 'project: 2001') - 1}: redcap[1].instrument: is required`,
    ]);
  });

  test('YAML that does not parse', () => {
    const source = fixture.replace('  - name: Rui Assistant', '  - name: "Rui Assistant');
    const [problem, ...more] = problemsOf(source);
    expect(more).toEqual([]);
    expect(problem).toMatch(/^lab\.yml line \d+: not valid YAML: /);
  });

  test('a key written twice', () => {
    const source = fixture.replace('    admin: true', '    admin: true\n    admin: false');
    expect(problemsOf(source)).toEqual([
      `lab.yml line ${lineOf(source, 'admin: true') + 1}: not valid YAML: Map keys must be unique`,
    ]);
  });

  test.each([
    [
      'a study id that cannot be part of a session id',
      'id: SPN01',
      'id: SPN_01',
      'studies[0].id: id must be letters and digits only (it is part of session ids)',
    ],
    [
      'a project that is not a number',
      'project: 2001',
      'project: two',
      'redcap[1].project: must be a REDCap project id (a whole number)',
    ],
    [
      'a REDCap URL that is not one',
      'url: https://redcap.example.org/\n    project: 2001',
      'url: redcap.example.org\n    project: 2001',
      'redcap[1].url: "redcap.example.org" is not a URL',
    ],
    [
      'a REDCap URL with a query',
      'url: https://redcap.example.org/\n    project: 2001',
      'url: https://redcap.example.org/api/?x=1\n    project: 2001',
      'redcap[1].url: must be the server base URL, without "?" or "#"',
    ],
    [
      'a version YAML reads as a number',
      'version: 14.5.2\n    token: ${REDCAP_TOKEN_SPN01_LONG}',
      'version: 14.50\n    token: ${REDCAP_TOKEN_SPN01_LONG}',
      'redcap[1].version: must be a string such as "14.5.2" (quote it)',
    ],
    ['a bad email', 'email: rui@example.org', 'email: rui at example.org', 'users[1].email: must be an email address'],
    [
      'a script outside SUBMIT_SCRIPTS',
      'downloadScript: download.sh',
      'downloadScript: ../../bin/rm',
      'studies[0].sites[0].downloadScript: script must be a path inside SUBMIT_SCRIPTS (no leading "/", no "..")',
    ],
  ])('%s', (_what, from, to, message) => {
    const source = fixture.replace(from, to);
    expect(source).not.toBe(fixture);
    expect(problemsOf(source)).toEqual([`lab.yml line ${lineOf(source, to.split('\n')[0])}: ${message}`]);
  });

  test('the same entry twice', () => {
    const source = fixture.replace('site: ZHH', 'site: cmh').replace('name: Rui Assistant', 'name: Ada Admin');
    expect(problemsOf(source)).toEqual([
      `lab.yml line ${lineOf(source, 'site: cmh')}: studies[0].sites[1].site: site CMH is listed twice for study SPN01 (also at studies[0].sites[0])`,
      `lab.yml line ${lineOf(source, '  - name: Ada Admin') + 3}: users[1].name: user "Ada Admin" is listed twice (also at users[0])`,
    ]);
  });

  test('two studies with one code at one site', () => {
    const source = `studies:\n  - id: A\n    name: A\n    sites: [{ site: CMH, code: X }]\n  - id: B\n    name: B\n    sites:\n      - site: CMH\n        code: x\n`;
    expect(problemsOf(source)).toEqual([
      'lab.yml line 9: studies[1].sites[0].code: code X at site CMH is already used by study A',
    ]);
  });

  test('an empty file, or one that is not a mapping', () => {
    expect(problemsOf('# nothing\n')).toEqual([
      'lab.yml line 1: the file is empty (expected studies:, users: and/or redcap:)',
    ]);
    expect(problemsOf('- studies\n')).toEqual(['lab.yml line 1: expected a mapping (key: value), found a list']);
  });

  test('the token is never in a message', () => {
    const secret = 'SECRET-TOKEN-VALUE';
    const source = fixture
      .replace('token: ${REDCAP_TOKEN_SPN01}', `token: [${secret}]`)
      .replace('version: 14.5.2', 'version: []');
    const problems = problemsOf(source, { ...env, REDCAP_TOKEN_SPN01_LONG: secret });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).not.toContain(secret);
  });
});

describe('xnat:', () => {
  test('the fixture: a server, its account from the environment, its zone and its projects', () => {
    const { config } = parseLabConfig(fixture, { env });
    expect(config.xnat).toEqual([
      {
        url: 'https://xnat.example.org/',
        user: 'xnat-reader',
        password: 'xnat-password-89',
        timezone: 'America/Toronto',
        projects: [
          { project: 'SPN01_CMH', study: 'SPN01', site: 'CMH' },
          { project: 'SPN01_ZHH', study: 'SPN01', site: 'ZHH' },
        ],
      },
    ]);
  });

  test('a URL is stored ending with "/", under a path too; study and site are upper case', () => {
    const source =
      'xnat:\n  - url: https://XNAT.example.org/xnat\n    user: u\n    password: p\n    projects:\n      - { project: P1, study: spn01, site: cmh }\n';
    expect(parseLabConfig(source, { env: {} }).config.xnat[0]).toMatchObject({
      url: 'https://xnat.example.org/xnat/',
      projects: [{ project: 'P1', study: 'SPN01', site: 'CMH' }],
    });
  });

  test.each([
    [
      'a URL that is not one',
      'url: https://xnat.example.org/',
      'url: xnat.example.org',
      'xnat[0].url: "xnat.example.org" is not a URL',
    ],
    [
      'a URL that is not http(s)',
      'url: https://xnat.example.org/',
      'url: ftp://xnat.example.org/',
      'xnat[0].url: must be an http or https URL',
    ],
    [
      'a URL with a query',
      'url: https://xnat.example.org/',
      'url: https://xnat.example.org/data/?format=json',
      'xnat[0].url: must be the server base URL, without "?" or "#"',
    ],
    ['an empty user', 'user: ${XNAT_USER}', 'user: ""', 'xnat[0].user: must not be empty'],
    [
      'a zone that is none',
      'timezone: America/Toronto',
      'timezone: Toronto',
      'xnat[0].timezone: must be a time zone name such as America/Toronto or UTC',
    ],
    [
      'a project id with a space',
      'project: SPN01_ZHH',
      'project: SPN01 ZHH',
      'xnat[0].projects[1].project: project must be an XNAT project id: letters, digits, "_" and "-"',
    ],
    [
      'a site that cannot be in a session id',
      'project: SPN01_ZHH\n        study: SPN01\n        site: ZHH',
      'project: SPN01_ZHH\n        study: SPN01\n        site: Z-H',
      'xnat[0].projects[1].site: site must be letters and digits only (it is part of session ids)',
    ],
  ])('%s', (_what, from, to, message) => {
    const source = fixture.replace(from, to);
    expect(source).not.toBe(fixture);
    const changedLine = to.split('\n').at(-1)!.trim();
    expect(problemsOf(source)).toEqual([`lab.yml line ${lineOf(source, changedLine)}: ${message}`]);
  });

  test('a missing field is named, at the entry that lacks it', () => {
    const source = fixture.replace('    password: ${XNAT_PASSWORD}     # never written in the file\n', '');
    expect(problemsOf(source)).toEqual([
      `lab.yml line ${lineOf(source, 'url: https://xnat')}: xnat[0].password: is required`,
    ]);
    const noSite = fixture.replace('        study: SPN01\n        site: ZHH\n', '        study: SPN01\n');
    expect(problemsOf(noSite)).toEqual([
      `lab.yml line ${lineOf(noSite, 'project: SPN01_ZHH')}: xnat[0].projects[1].site: is required`,
    ]);
  });

  test('an unknown key, a project listed twice, a study at a site given two projects', () => {
    expect(problemsOf(fixture.replace('    user: ${XNAT_USER}', '    username: ${XNAT_USER}'))).toEqual([
      expect.stringMatching(/xnat\[0\]\.user: is required$/),
      expect.stringMatching(/xnat\[0\]\.username: unknown key$/),
    ]);
    const twice = fixture.replace('project: SPN01_ZHH', 'project: SPN01_CMH');
    expect(problemsOf(twice)).toEqual([
      `lab.yml line ${lineOf(twice, 'project: SPN01_CMH') + 3}: xnat[0].projects[1].project: XNAT project SPN01_CMH is listed twice (also at xnat[0].projects[0])`,
    ]);
    const sameSite = fixture.replace(
      'project: SPN01_ZHH\n        study: SPN01\n        site: ZHH',
      'project: SPN01_ZHH\n        study: SPN01\n        site: CMH',
    );
    expect(problemsOf(sameSite)).toEqual([
      `lab.yml line ${lineOf(sameSite, 'project: SPN01_ZHH') + 2}: xnat[0].projects[1].site: SPN01 at CMH is given two XNAT projects (a study at a site has one) (also at xnat[0].projects[0])`,
    ]);
  });

  test('the password is never in a message', () => {
    const problems = problemsOf(fixture.replace('timezone: America/Toronto', 'timezone: Nowhere'), env);
    expect(problems).toHaveLength(1);
    expect(problems.join('\n')).not.toContain(env.XNAT_PASSWORD);
  });
});
