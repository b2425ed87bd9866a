/**
 * docker-compose.yml stays valid and wired as docs/deploying.md describes: Docker Compose itself parses it
 * (`docker compose config`, no Docker engine needed), with the required settings and with .env.example.
 * (`npm run test:compose` runs it on an engine: test/compose/.)
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
  ports?: Array<{ target: number; published: string; host_ip?: string }>;
  build?: { args?: Record<string, string> };
  volumes?: Array<{ type: string; source: string; target: string }>;
  healthcheck?: { test: string[] };
}

/** `docker compose config` on our file, with `envFile` standing in for .env; fails the test with Compose's message. */
function composeConfig(envFile: string, ...args: string[]): string {
  const result = runCompose(['--file', composeFile, '--env-file', envFile, 'config', ...args], root);
  if (result.status !== 0) throw new Error(`docker compose config failed (${result.status}):\n${result.stderr}`);
  return result.stdout;
}

/** The services as Compose resolves them with these settings in .env (besides the required ones). */
function servicesWith(settings: Record<string, string>): Record<string, ComposeService> {
  return JSON.parse(composeConfig(envFileOf({ ...required, ...settings }), '--format', 'json')).services;
}

let dir: string;
function envFileOf(settings: Record<string, string>): string {
  const file = path.join(dir, `${Object.keys(settings).join('-') || 'empty'}.env`);
  fs.writeFileSync(
    file,
    Object.entries(settings)
      .map(([name, value]) => `${name}=${value}\n`)
      .join(''),
  );
  return file;
}
/** What .env must set: the stack does not start without it. */
const required = { API_TOKEN: 'a-token', DET_SECRET: 'a-secret', POSTGRES_PASSWORD: 'a-password' };
let requiredEnvFile: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-'));
  requiredEnvFile = envFileOf(required);
});

test('docker compose config -q accepts the file with the required settings, and with .env.example filled in', () => {
  expect(() => composeConfig(requiredEnvFile, '-q')).not.toThrow();
  const example = fs.readFileSync(path.join(root, '.env.example'), 'utf8');
  const filled = path.join(dir, 'filled.env');
  fs.writeFileSync(filled, example.replace(/^(API_TOKEN|DET_SECRET|POSTGRES_PASSWORD)=$/gm, '$1=filled-in'));
  expect(() => composeConfig(filled, '-q')).not.toThrow();
});

test.each(Object.keys(required))('without %s in .env, docker compose stops with its own error naming it', (name) => {
  const settings: Record<string, string> = { ...required };
  delete settings[name];
  for (const envFile of [envFileOf(settings), envFileOf({ ...settings, [name]: '' })]) {
    const result = runCompose(['--file', composeFile, '--env-file', envFile, 'config', '-q'], root);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`required variable ${name} is missing a value: set ${name} in .env`);
  }
});

test('.env.example leaves the required settings for the user to fill in', () => {
  const result = runCompose(
    ['--file', composeFile, '--env-file', path.join(root, '.env.example'), 'config', '-q'],
    root,
  );
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(/required variable (API_TOKEN|POSTGRES_PASSWORD) is missing a value/);
});

test('docker compose config -q rejects a broken file (the check has teeth)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-broken-'));
  const broken = path.join(dir, 'docker-compose.yml');
  fs.writeFileSync(
    broken,
    'services:\n  api:\n    image: x\n    depends_on:\n      migrate:\n        condition: service_completed_successfully\n',
  );
  const result = runCompose(['--file', broken, '--env-file', requiredEnvFile, 'config', '-q'], dir);
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(/migrate/);
});

describe('the stack', () => {
  let services: Record<string, ComposeService>;
  beforeAll(() => {
    services = servicesWith({});
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

  test("publishes the API on 3000, the Web UI on 8080, Mailpit on 8025 and Temporal's port, on 127.0.0.1 only", () => {
    expect(published(services)).toEqual({
      api: ['127.0.0.1:3000->3000'],
      'temporal-ui': ['127.0.0.1:8080->8080'],
      mailpit: ['127.0.0.1:8025->8025'],
      temporal: ['127.0.0.1:7233->7233'],
    });
  });

  test("PUBLISH_ADDRESS publishes the API, the Web UI and Mailpit there; Temporal's port (no login) stays local", () => {
    expect(published(servicesWith({ PUBLISH_ADDRESS: '0.0.0.0', API_PORT: '3001' }))).toEqual({
      api: ['0.0.0.0:3001->3000'],
      'temporal-ui': ['0.0.0.0:8080->8080'],
      mailpit: ['0.0.0.0:8025->8025'],
      temporal: ['127.0.0.1:7233->7233'],
    });
    expect(published(servicesWith({ PUBLISH_ADDRESS: '192.0.2.10' })).api).toEqual(['192.0.2.10:3000->3000']);
  });

  test('runs the official images, each replaceable by one variable (the stand-ins of scripts/local-images.sh)', () => {
    const images = (of: Record<string, ComposeService>) => ({
      ...Object.fromEntries(Object.entries(of).map(([name, service]) => [name, service.image])),
      node: of.api.build?.args?.NODE_IMAGE,
    });
    const app = 'redcap-scan-monitor:latest';
    expect(images(services)).toEqual({
      postgres: 'postgres:16',
      'temporal-schema': 'temporalio/admin-tools:1.31.0',
      temporal: 'temporalio/server:1.31.0',
      'temporal-setup': 'temporalio/admin-tools:1.31.0',
      'temporal-ui': 'temporalio/ui:2.49.1',
      mailpit: 'axllent/mailpit:latest',
      migrate: app,
      api: app,
      worker: app,
      node: 'node:20-bookworm-slim',
    });
    // The variables, as the script prints them.
    const script = fs.readFileSync(path.join(root, 'scripts', 'local-images.sh'), 'utf8');
    const variables = [...script.matchAll(/^([A-Z_]+_IMAGE)=/gm)].map(([, name]) => name);
    expect(variables.sort()).toEqual(
      [
        'MAILPIT_IMAGE',
        'NODE_IMAGE',
        'POSTGRES_IMAGE',
        'TEMPORAL_ADMIN_TOOLS_IMAGE',
        'TEMPORAL_SERVER_IMAGE',
        'TEMPORAL_UI_IMAGE',
      ].sort(),
    );
    const replaced = images(
      servicesWith(Object.fromEntries(variables.map((name) => [name, `local/${name.toLowerCase()}`]))),
    );
    expect(replaced).toEqual({
      postgres: 'local/postgres_image',
      'temporal-schema': 'local/temporal_admin_tools_image',
      temporal: 'local/temporal_server_image',
      'temporal-setup': 'local/temporal_admin_tools_image',
      'temporal-ui': 'local/temporal_ui_image',
      mailpit: 'local/mailpit_image',
      migrate: app,
      api: app,
      worker: app,
      node: 'local/node_image',
    });
    // The Dockerfile's own default base is compose's.
    expect(fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8')).toContain('ARG NODE_IMAGE=node:20-bookworm-slim');
  });

  test("passes the Web UI server's own login settings (TEMPORAL_AUTH_*) through, off by default", () => {
    expect(services['temporal-ui'].environment).toMatchObject({ TEMPORAL_AUTH_ENABLED: 'false' });
    const ui = servicesWith({
      TEMPORAL_AUTH_ENABLED: 'true',
      TEMPORAL_AUTH_PROVIDER_URL: 'https://login.example.org/realms/lab',
      TEMPORAL_AUTH_CLIENT_ID: 'temporal-ui',
      TEMPORAL_AUTH_CLIENT_SECRET: 'a-secret',
      TEMPORAL_AUTH_CALLBACK_URL: 'https://monitors.example.org/auth/sso/callback',
    })['temporal-ui'];
    expect(ui.environment).toMatchObject({
      TEMPORAL_AUTH_ENABLED: 'true',
      TEMPORAL_AUTH_PROVIDER_URL: 'https://login.example.org/realms/lab',
      TEMPORAL_AUTH_CLIENT_ID: 'temporal-ui',
      TEMPORAL_AUTH_CLIENT_SECRET: 'a-secret',
      TEMPORAL_AUTH_CALLBACK_URL: 'https://monitors.example.org/auth/sso/callback',
      TEMPORAL_AUTH_SCOPES: 'openid,profile,email',
    });
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

/** Each service's published ports as `address:published->target`. */
function published(of: Record<string, ComposeService>): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(of)
      .filter(([, service]) => service.ports)
      .map(([name, service]) => [name, service.ports!.map((p) => `${p.host_ip ?? ''}:${p.published}->${p.target}`)]),
  );
}

test('every setting in .env.example is one docker-compose.yml reads', () => {
  const compose = fs.readFileSync(composeFile, 'utf8');
  const names = fs
    .readFileSync(path.join(root, '.env.example'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.slice(0, line.indexOf('=')));
  expect(names.length).toBeGreaterThan(10);
  expect(names.filter((name) => !compose.includes(`\${${name}:-`) && !compose.includes(`\${${name}:?`))).toEqual([]);
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
