/**
 * Development only: the embedded Temporal dev server (`temporal server start-dev`: SQLite, Web UI, our search
 * attributes) for `npm start`, the tests and the bench. `npm run api` and `npm run worker` never load it.
 *
 * With a provisioned CLI we run it as a child in its own process group: Ctrl-C reaches only us, and we
 * stop the worker before the server it talks to. Without one, the SDK (@temporalio/testing, a development
 * dependency) downloads and runs the CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { StartupError } from '../startup-failure';
import { temporalCliPath } from './binaries';
import { searchAttributes } from '../../surface';

export interface DevServerOptions {
  /** SQLite file; unset keeps everything in memory. */
  dbFilename?: string;
  port: number;
  /** Web UI port; unset runs no UI. */
  uiPort?: number;
  namespace?: string;
  /** Where the server's own output goes (default: inherited). */
  stdio?: 'inherit' | 'ignore';
}

export interface DevServer {
  address: string;
  /** Resolves with how the server ended (`signal SIGKILL`); undefined for the SDK's downloaded server (not ours to watch). */
  exited?: Promise<string>;
  stop(): Promise<void>;
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const cli = temporalCliPath();
  return cli ? spawnDevServer(cli, options) : downloadedDevServer(options);
}

async function spawnDevServer(cli: string, options: DevServerOptions): Promise<DevServer> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(options.port)];
  args.push('--namespace', options.namespace ?? 'default', '--log-level', 'warn');
  if (options.dbFilename) args.push('--db-filename', options.dbFilename);
  if (options.uiPort !== undefined) args.push('--ui-port', String(options.uiPort));
  else args.push('--headless');
  for (const key of searchAttributes) args.push('--search-attribute', `${key.name}=Keyword`);

  const child = spawn(cli, args, {
    detached: true,
    stdio: ['ignore', options.stdio ?? 'inherit', options.stdio ?? 'inherit'],
  });
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `code ${code}`)),
  );
  const address = `127.0.0.1:${options.port}`;
  try {
    await waitForPort(options.port, child, 60_000);
  } catch (err) {
    await stopChild(child, exited);
    throw err;
  }
  return { address, exited, stop: () => stopChild(child, exited) };
}

async function downloadedDevServer(options: DevServerOptions): Promise<DevServer> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing').catch(() => {
    throw new StartupError(
      'no Temporal CLI: run `npm run provision` (needs Go), install the `temporal` CLI, or set TEMPORAL_ADDRESS',
    );
  });
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'cached-download' },
      ip: '127.0.0.1',
      port: options.port,
      dbFilename: options.dbFilename,
      namespace: options.namespace ?? 'default',
      ui: options.uiPort !== undefined,
      uiPort: options.uiPort,
      searchAttributes,
    },
  }).catch((err: unknown) => {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new StartupError(
      `no Temporal CLI here, and the SDK could not download one (${reason}): run \`npm run provision\` (needs Go), or set TEMPORAL_ADDRESS`,
    );
  });
  return { address: env.address, stop: () => env.teardown() };
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}

function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(
          new StartupError(
            `the Temporal dev server exited (${child.exitCode ?? child.signalCode}) before port ${port} opened: is another program using port ${port}?`,
          ),
        );
        return;
      }
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new StartupError(`the Temporal dev server did not open port ${port} within ${timeoutMs / 1000} s`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}
