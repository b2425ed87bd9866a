/**
 * docker-compose.yml stays valid and wired as README.md describes: Docker Compose itself parses it
 * (`docker compose config`, no Docker engine needed), with the defaults and with .env.example.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { searchAttributes } from '../../surface';
import { runCompose } from '../support/compose';

const root = path.resolve(__dirname, '..', '..');
const composeFile = path.join(root, 'docker-compose.yml');

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: Array<{ target: number; published: string }>;
  volumes?: Array<{ type: string; source: string; target: string }>;
  healthcheck?: { test: string[] };
}

/** `docker compose config` on our file, with `envFile` standing in for .env; fails the test with Compose's message. */
function composeConfig(envFile: string, ...args: string[]): string {
  const result = runCompose(['--file', composeFile, '--env-file', envFile, 'config', ...args], root);
  if (result.status !== 0) throw new Error(`docker compose config failed (${result.status}):\n${result.stderr}`);
  return result.stdout;
}

let emptyEnvFile: string;
beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-'));
  emptyEnvFile = path.join(dir, 'empty.env');
  fs.writeFileSync(emptyEnvFile, '');
});

test('docker compose config -q accepts the file with its defaults and with .env.example', () => {
  expect(() => composeConfig(emptyEnvFile, '-q')).not.toThrow();
  expect(() => composeConfig(path.join(root, '.env.example'), '-q')).not.toThrow();
});

test('docker compose config -q rejects a broken file (the check has teeth)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-broken-'));
  const broken = path.join(dir, 'docker-compose.yml');
  fs.writeFileSync(
    broken,
    'services:\n  api:\n    image: x\n    depends_on:\n      migrate:\n        condition: service_completed_successfully\n',
  );
  const result = runCompose(['--file', broken, '--env-file', emptyEnvFile, 'config', '-q'], dir);
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(/migrate/);
});

describe('the stack', () => {
  let services: Record<string, ComposeService>;
  beforeAll(() => {
    services = JSON.parse(composeConfig(emptyEnvFile, '--format', 'json')).services;
  });

  test('has PostgreSQL, Temporal and its setup jobs, the Web UI, Mailpit, migrate, the API and a worker', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'api',
        'mailpit',
        'migrate',
        'postgres',
        'temporal',
        'temporal-schema',
        'temporal-setup',
        'temporal-ui',
        'worker',
      ].sort(),
    );
    expect(services.temporal.image).toMatch(/^temporalio\/server:/);
    expect(services['temporal-schema'].image).toMatch(/^temporalio\/admin-tools:/);
    expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:/);
  });

  test('publishes the API on 3000, the Web UI on 8080 and Mailpit on 8025', () => {
    const published = (name: string) => services[name].ports?.map((port) => `${port.published}->${port.target}`);
    expect(published('api')).toEqual(['3000->3000']);
    expect(published('temporal-ui')).toEqual(['8080->8080']);
    expect(published('mailpit')).toEqual(['8025->8025']);
  });

  test('starts the API and the worker after migrations and the Temporal setup have completed', () => {
    for (const name of ['api', 'worker']) {
      expect(services[name].depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        'temporal-setup': { condition: 'service_completed_successfully' },
        temporal: { condition: 'service_healthy' },
      });
    }
    expect(services.temporal.depends_on).toMatchObject({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
    expect(services.api.healthcheck?.test.join(' ')).toContain('/readyz');
  });

  test('runs entry points that exist, with the services of the stack', () => {
    for (const name of ['migrate', 'api', 'worker']) {
      const [node, entry] = services[name].command ?? [];
      expect(node).toBe('node');
      // dist/src/X.js is compiled from src/X.ts
      expect(fs.existsSync(path.join(root, entry.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
      expect(services[name].environment).toMatchObject({
        DATABASE_URL: expect.stringMatching(/^postgresql:\/\/postgres:[^@]+@postgres:5432\/redcap_scan_monitor$/),
        TEMPORAL_ADDRESS: 'temporal:7233',
        SMTP_URL: 'smtp://mailpit:1025',
      });
    }
    expect(services.migrate.command).toEqual(['node', 'dist/src/cli.js', 'migrate']);
    // the job scripts register scans with the API (scripts/jobs/download.sh)
    expect(services.worker.environment).toMatchObject({ SCAN_MONITOR_URL: 'http://api:3000', SUBMIT_SCRIPTS: '/jobs' });
  });

  test('mounts setup files that exist', () => {
    const mounts = Object.values(services).flatMap((service) => service.volumes ?? []);
    const deployMounts = mounts.filter(
      (mount) => mount.type === 'bind' && mount.source.startsWith(path.join(root, 'deploy')),
    );
    expect(deployMounts.length).toBeGreaterThanOrEqual(3);
    for (const mount of deployMounts) expect(fs.existsSync(mount.source)).toBe(true);
  });
});

test('every setting in .env.example is one docker-compose.yml reads', () => {
  const compose = fs.readFileSync(composeFile, 'utf8');
  const names = fs
    .readFileSync(path.join(root, '.env.example'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.slice(0, line.indexOf('=')));
  expect(names.length).toBeGreaterThan(10);
  expect(names.filter((name) => !compose.includes(`\${${name}:-`))).toEqual([]);
});

test('the Temporal setup scripts parse, and register exactly our search attributes as Keyword', () => {
  for (const script of ['setup-schema.sh', 'setup-namespace.sh']) {
    const check = spawnSync('sh', ['-n', path.join(root, 'deploy', 'temporal', script)], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  }
  const setup = fs.readFileSync(path.join(root, 'deploy', 'temporal', 'setup-namespace.sh'), 'utf8');
  const registered = [...setup.matchAll(/--name (\w+) --type (\w+)/g)].map(([, name, type]) => `${name}=${type}`);
  expect(registered.sort()).toEqual(searchAttributes.map((key) => `${key.name}=Keyword`).sort());
});
