/**
 * The service's own processes, run as children the way ops run them (`npm run worker`, `npm run api`),
 * so fault tests and benchmarks can kill and restart them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything the process printed, for the failure message of a test. */
  output(): string;
  /** How the process ended (`code 1`, `signal SIGKILL`); undefined while it runs. */
  ended(): string | undefined;
  /** SIGTERM (graceful) or SIGKILL (a crash); resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startServiceProcess(entry: 'worker' | 'api', env: Record<string, string>): ServiceProcess {
  return startTsProcess(path.join(root, 'src', `${entry}.ts`), [], env);
}

/** The compiled service, `node dist/src/<entry>.js`, as the image runs it (`npm run build` first). */
export function startCompiledServiceProcess(entry: 'worker' | 'api', env: Record<string, string>): ServiceProcess {
  return startNodeProcess([path.join(root, 'dist', 'src', `${entry}.js`)], env);
}

/**
 * Any TypeScript entry of the project as a child process (through ts-node, as `npm run …` does); `wrap` runs it under
 * another command (e.g. `unshare --pid --fork …`).
 */
export function startTsProcess(
  file: string,
  args: string[],
  env: Record<string, string> = {},
  wrap: string[] = [],
): ServiceProcess {
  return startNodeProcess(['-r', 'ts-node/register/transpile-only', file, ...args], env, wrap);
}

function startNodeProcess(args: string[], env: Record<string, string>, wrap: string[] = []): ServiceProcess {
  const [command, ...before] = [...wrap, process.execPath];
  const child = spawn(command, [...before, ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => output,
    ended: () =>
      child.exitCode !== null ? `code ${child.exitCode}` : child.signalCode ? `signal ${child.signalCode}` : undefined,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Waits until `check` is true, polling; throws with `what` (read at the timeout, if a function) after `timeoutMs`. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  what: string | (() => string),
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs / 1000}s waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Waits until `ready` is true of a process started here. Throws at once when the process ends first, and at the
 * timeout; either way with what the process printed by then.
 */
export async function waitForProcess(
  proc: ServiceProcess,
  ready: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs?: number,
): Promise<void> {
  await eventually(
    async () => {
      if (await ready()) return true;
      const ended = proc.ended();
      if (ended) throw new Error(`${what}, but the process ended (${ended}):\n${proc.output()}`);
      return false;
    },
    () => `${what}:\n${proc.output()}`,
    timeoutMs,
  );
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run cli -- <args>` to its end, with only PATH and `env` in its environment (nothing of the test's own). */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.join(root, 'src', 'cli.ts'), ...args],
      {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
