/**
 * When a service of the stack fails its healthcheck, `up --wait` fails and test:compose (ComposeProject.up) says
 * which service, with its last log lines: shown here on a small project of one sick and one well service.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ComposeProject } from '../support/compose';

const run = promisify(execFile);
let dir: string;
let project: ComposeProject;

beforeAll(async () => {
  const { stdout } = await run('bash', [path.resolve(__dirname, '..', '..', 'scripts', 'local-images.sh')]);
  const image = /^POSTGRES_IMAGE=(.+)$/m.exec(stdout)?.[1]; // any image with a shell
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-unhealthy-'));
  const service = (words: string, healthcheck: string) => `
    image: ${image}
    entrypoint: ["sh", "-c", "${words}; exec sleep 600"]
    stop_signal: SIGKILL
    healthcheck: { test: ${healthcheck}, interval: 1s, timeout: 1s, retries: 2 }`;
  fs.writeFileSync(
    path.join(dir, 'docker-compose.yml'),
    `services:
  sick:${service("echo 'sick: starting'; echo 'sick: cannot reach its database'", '["CMD", "false"]')}
  well:${service("echo 'well: fine'", '["CMD", "true"]')}
`,
  );
  fs.writeFileSync(path.join(dir, '.env'), '');
  project = new ComposeProject({
    name: `${process.env.TEST_COMPOSE_PROJECT || 'rsm-compose-test'}-unhealthy`,
    file: path.join(dir, 'docker-compose.yml'),
    envFile: path.join(dir, '.env'),
  });
});

afterAll(async () => {
  if (project) await project.down({ volumes: true });
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("up --wait fails naming the unhealthy service, with its last log lines (and not the others')", async () => {
  const failure = await project.up().then(
    () => undefined,
    (error: Error) => error.message,
  );
  expect(failure).toContain('--- sick (running, unhealthy), last log lines:');
  expect(failure).toContain('sick: cannot reach its database');
  expect(failure).not.toContain('well: fine');
});
