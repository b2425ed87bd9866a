/**
 * Docker Compose for the checks of docker-compose.yml: `docker compose` where it works, else the binary
 * scripts/provision.sh builds (keep the version in step with it). No Docker engine is needed to parse a file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
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
