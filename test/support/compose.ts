/**
 * Docker Compose for the checks of docker-compose.yml: `docker compose` where it works, else the binary
 * scripts/provision.sh builds (keep the version in step with it). No Docker engine is needed to parse a file;
 * ComposeProject runs one on an engine (test/compose/).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const COMPOSE_VERSION = '5.6.0';
const provisioned = path.join(
  process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'),
  'redcap-scan-monitor',
  `docker-compose-${COMPOSE_VERSION}`,
  'docker-compose',
);

/** The command that runs Docker Compose, e.g. ['docker', 'compose']; throws saying how to get one. */
export function composeCommand(): string[] {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore' });
    return ['docker', 'compose'];
  } catch {
    if (fs.existsSync(provisioned)) return [provisioned];
  }
  throw new Error(
    `Docker Compose not found: neither \`docker compose\` nor ${provisioned} works. ` +
      'Run `bash scripts/provision.sh docker-compose` (builds it with Go) or install the docker compose plugin.',
  );
}

export interface ComposeRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs Docker Compose with `args` in `cwd`, with only PATH and HOME from our environment. */
export function runCompose(args: string[], cwd: string): ComposeRun {
  const [command, ...prefix] = composeCommand();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  if (process.env.DOCKER_CONFIG) env.DOCKER_CONFIG = process.env.DOCKER_CONFIG;
  const result = spawnSync(command, [...prefix, ...args], { cwd, env, encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface ComposeProjectOptions {
  /** The compose project name (`-p`): containers, networks and volumes are named after it. */
  name: string;
  file: string;
  /** Stands in for .env. */
  envFile: string;
}

/** One service of `docker compose ps -a`. */
export interface ComposeContainer {
  Service: string;
  State: string;
  Health: string;
  ExitCode: number;
}

/**
 * A compose project run on a Docker engine, as a user runs it (`docker compose -p NAME -f FILE --env-file ENV …`),
 * without blocking this process: a test's own servers (the fake REDCap) keep answering meanwhile.
 */
export class ComposeProject {
  constructor(readonly options: ComposeProjectOptions) {}

  /** Runs `docker compose …args`; `env` adds to PATH and HOME, e.g. for `run -e NAME`. */
  run(args: string[], env: Record<string, string> = {}): Promise<ComposeRun> {
    const [command, ...prefix] = composeCommand();
    const { name, file, envFile } = this.options;
    const fullEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
    if (process.env.DOCKER_CONFIG) fullEnv.DOCKER_CONFIG = process.env.DOCKER_CONFIG;
    const child = spawn(command, [...prefix, '-p', name, '-f', file, '--env-file', envFile, ...args], {
      cwd: path.dirname(file),
      env: fullEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
  }

  /** Like run, but a non-zero exit throws with what compose printed; resolves with stdout. */
  async check(args: string[], env: Record<string, string> = {}): Promise<string> {
    const result = await this.run(args, env);
    if (result.status !== 0)
      throw new Error(`docker compose ${args.join(' ')} failed (${result.status}):\n${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  /**
   * `up -d --wait`. When it fails, throws with compose's message and, for each service that is not healthy, not
   * running or ended in failure, its last log lines: what a user would look at first.
   */
  async up(): Promise<void> {
    const result = await this.run(['up', '-d', '--wait', '--wait-timeout', '600']);
    if (result.status === 0) return;
    const failed = (await this.services()).filter(
      (service) =>
        (service.Health !== '' && service.Health !== 'healthy') ||
        service.State === 'restarting' ||
        (service.State === 'exited' && service.ExitCode !== 0),
    );
    const logs = await Promise.all(
      failed.map(
        async (service) =>
          `--- ${service.Service} (${service.State}${service.Health ? `, ${service.Health}` : ''}), last log lines:\n` +
          (await this.logs(service.Service)),
      ),
    );
    throw new Error(
      `docker compose up --wait failed (${result.status}):\n${result.stderr.trim().split('\n').slice(-10).join('\n')}\n` +
        (logs.length > 0 ? logs.join('\n') : '(every service is healthy or running)'),
    );
  }

  /** Every service's container, running or not. */
  async services(): Promise<ComposeContainer[]> {
    const out = (await this.check(['ps', '-a', '--format', 'json'])).trim();
    // One JSON object a line (Compose 2.21 and later), or one array (before).
    if (out.startsWith('[')) return JSON.parse(out) as ComposeContainer[];
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as ComposeContainer);
  }

  /** The last `tail` lines a service logged. */
  async logs(service: string, tail = 40): Promise<string> {
    const result = await this.run(['logs', '--no-color', '--tail', String(tail), service]);
    return `${result.stdout}${result.stderr}`.trimEnd();
  }

  async down(options: { volumes: boolean }): Promise<void> {
    await this.check(['down', '--remove-orphans', ...(options.volumes ? ['-v'] : [])]);
  }
}
