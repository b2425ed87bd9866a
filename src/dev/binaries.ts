/**
 * Development only: where the Temporal servers provisioned by scripts/provision.sh live (keep the paths in step
 * with it). When a binary is not there, the callers fall back to the SDK's own download.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';

const cacheDir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'redcap-scan-monitor');
const TEMPORAL_CLI_VERSION = '1.5.1';
const TEST_SERVER_VERSION = '1.38.0';

function onPath(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function executable(file: string | undefined): string | undefined {
  return file && fs.existsSync(file) ? file : undefined;
}

/** The Temporal CLI (`temporal server start-dev`): TEMPORAL_CLI_PATH, the provisioned build, or PATH. */
export function temporalCliPath(): string | undefined {
  return (
    executable(process.env.TEMPORAL_CLI_PATH) ??
    executable(path.join(cacheDir, `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal')) ??
    onPath('temporal')
  );
}

/** The wrapper that runs Temporal's Java time-skipping test server as `<path> <port>`. */
export function timeSkippingServerPath(): string | undefined {
  return (
    executable(process.env.TEMPORAL_TEST_SERVER_PATH) ??
    executable(path.join(cacheDir, `temporal-test-server-${TEST_SERVER_VERSION}`, 'temporal-test-server'))
  );
}

function asExecutable(found: string | undefined): EphemeralServerExecutable {
  return found ? { type: 'existing-path', path: found } : { type: 'cached-download', downloadDir: cacheDir };
}

export const devServerExecutable = (): EphemeralServerExecutable => asExecutable(temporalCliPath());
export const timeSkippingServerExecutable = (): EphemeralServerExecutable => asExecutable(timeSkippingServerPath());
