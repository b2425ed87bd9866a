/**
 * The production Temporal server without Docker: `temporal-server` (frontend, history, matching and worker
 * services, each on loopback ports of its own) on a PostgreSQL, set up by the same steps as docker-compose.yml:
 *   1. deploy/temporal/setup-schema.sh (temporal-sql-tool, plugin postgres12: databases `temporal` and
 *      `temporal_visibility`, schema from the server module's schema/postgresql/v12),
 *   2. `temporal-server --config-file <ours> start`, dynamic config deploy/temporal/dynamicconfig.yaml,
 *   3. deploy/temporal/setup-namespace.sh (`temporal` CLI: namespace, SessionId/StudyId/SiteId).
 * The binaries come from `bash scripts/provision.sh temporal-server`, at the version of docker-compose.yml.
 * The server's log is kept in `<workDir>/temporal-server.log`; its tail goes into every error message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import net from 'node:net';
import { temporalCliPath } from '../../src/dev/binaries';

const root = path.resolve(__dirname, '..', '..');
const deployDir = path.join(root, 'deploy', 'temporal');

/** The Temporal server version of docker-compose.yml (`temporalio/server:${TEMPORAL_VERSION:-x.y.z}`), the one source. */
export function composeTemporalVersion(): string {
  const compose = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
  const version = /temporalio\/server:\$\{TEMPORAL_VERSION:-([0-9][0-9.]*)\}/.exec(compose)?.[1];
  if (!version) throw new Error('docker-compose.yml names no temporalio/server:${TEMPORAL_VERSION:-x.y.z} image');
  return version;
}

export interface ProductionTemporalBinaries {
  version: string;
  /** Holds temporal-server, temporal-sql-tool and schema/postgresql/v12 (scripts/provision.sh temporal-server). */
  dir: string;
  server: string;
  schemaDir: string;
  /** The `temporal` CLI setup-namespace.sh runs. */
  cli: string;
}

/** The provisioned binaries (TEMPORAL_SERVER_DIR overrides the cache); throws saying how to get them. */
export function productionTemporalBinaries(): ProductionTemporalBinaries {
  const version = composeTemporalVersion();
  const cache = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'redcap-scan-monitor');
  const dir = process.env.TEMPORAL_SERVER_DIR ?? path.join(cache, `temporal-server-${version}`);
  const server = path.join(dir, 'temporal-server');
  const schemaDir = path.join(dir, 'schema', 'postgresql', 'v12');
  const missing = [server, path.join(dir, 'temporal-sql-tool'), schemaDir].filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    throw new Error(
      `The production Temporal server ${version} is not provisioned (missing ${missing.join(', ')}): run \`bash scripts/provision.sh temporal-server\``,
    );
  }
  const cli = temporalCliPath();
  if (!cli)
    throw new Error(
      'No `temporal` CLI for deploy/temporal/setup-namespace.sh: run `bash scripts/provision.sh temporal-cli`',
    );
  return { version, dir, server, schemaDir, cli };
}

export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface ProductionTemporalOptions {
  postgres: PostgresTarget;
  /** Where the config and the log go (kept across restart()). */
  workDir: string;
  namespace?: string;
  /** Temporal's two databases (the defaults of docker-compose.yml). */
  databases?: { main: string; visibility: string };
  /** The server's log level (default info; it goes to a file). */
  logLevel?: string;
}

interface Ports {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A free loopback port below 32768. Not an ephemeral one (freePort()): the server stores each service's
 * membership port in cluster_membership.rpc_port, a PostgreSQL SMALLINT, and dies on a port above 32767.
 * Each jest worker draws from a band of its own (2,000 ports): a port that is free only because another test
 * file's server is down for a restart is never picked, which made that server's restart fail with
 * 'address already in use'.
 */
async function lowFreePort(taken: Set<number>): Promise<number> {
  const band = Number(process.env.JEST_WORKER_ID ?? 0) % 6;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + band * 2_000 + Math.floor(Math.random() * 2_000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${20_000 + band * 2_000} and ${22_000 + band * 2_000} on 127.0.0.1`);
}

export class ProductionTemporalServer {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  /** The namespace exists (setup-namespace.sh ran): start() then waits until it is served. */
  private namespaceCreated = false;
  readonly configFile: string;
  readonly logFile: string;
  /** Seconds each step took: setup-schema.sh, the first start, setup-namespace.sh, the latest (re)start and stop. */
  readonly seconds: {
    setupSchema?: number;
    firstStart?: number;
    setupNamespace?: number;
    lastStart?: number;
    lastStop?: number;
  } = {};

  private constructor(
    private readonly binaries: ProductionTemporalBinaries,
    private readonly options: ProductionTemporalOptions,
    private readonly ports: Ports,
  ) {
    this.configFile = path.join(options.workDir, 'temporal-server.yaml');
    this.logFile = path.join(options.workDir, 'temporal-server.log');
  }

  /** Sets up the schema, starts the server, creates the namespace and search attributes: ready for clients. */
  static async create(options: ProductionTemporalOptions): Promise<ProductionTemporalServer> {
    const binaries = productionTemporalBinaries();
    fs.mkdirSync(options.workDir, { recursive: true });
    const taken = new Set<number>();
    const port = () => lowFreePort(taken);
    const ports: Ports = {
      frontend: await port(),
      frontendHttp: await port(),
      frontendMembership: await port(),
      history: await port(),
      historyMembership: await port(),
      matching: await port(),
      matchingMembership: await port(),
      worker: await port(),
      workerMembership: await port(),
    };
    const server = new ProductionTemporalServer(binaries, options, ports);
    fs.writeFileSync(server.configFile, server.serverConfig());
    let began = Date.now();
    const took = () => (Date.now() - began) / 1000;
    await server.runDeployScript('setup-schema.sh', server.schemaEnv(), 120_000);
    server.seconds.setupSchema = took();
    await server.start();
    server.seconds.firstStart = server.seconds.lastStart;
    try {
      began = Date.now();
      await server.runDeployScript('setup-namespace.sh', server.namespaceEnv(), 180_000);
      server.seconds.setupNamespace = took();
      server.namespaceCreated = true;
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get address(): string {
    return `127.0.0.1:${this.ports.frontend}`;
  }

  get namespace(): string {
    return this.options.namespace ?? 'default';
  }

  /** Starts the server on its existing schema and waits until the frontend serves the namespace (after create). */
  async start(timeoutMs = 90_000): Promise<void> {
    if (this.child) return;
    const began = Date.now();
    const log = fs.openSync(this.logFile, 'a');
    const child = spawn(this.binaries.server, ['--config-file', this.configFile, '--allow-no-auth', 'start'], {
      cwd: this.options.workDir,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    this.child = child;
    let gone: string | undefined;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        gone = `exited (${code ?? signal})`;
        resolve();
      });
      child.once('error', (err) => {
        gone = `could not be started (${err.message})`;
        resolve();
      });
    });
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    void this.exited.then(() => process.removeListener('exit', killOnExit));
    try {
      await this.waitUntilServing(() => gone, timeoutMs);
      this.seconds.lastStart = (Date.now() - began) / 1000;
    } catch (err) {
      await this.stop('SIGKILL');
      throw err;
    }
  }

  /** SIGTERM (a graceful stop, SIGKILL after 30 s) or SIGKILL (a crash); resolves once the process is gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const began = Date.now();
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(killer);
    this.child = undefined;
    this.seconds.lastStop = (Date.now() - began) / 1000;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The end of the server's log, for failure messages: its last lines, JSON lines without their stack traces. */
  logTail(lines = 25): string {
    if (!fs.existsSync(this.logFile)) return '(no log)';
    const text = fs.readFileSync(this.logFile, 'utf8');
    return text
      .split('\n')
      .filter(Boolean)
      .slice(-lines)
      .map((line) => {
        try {
          const { level, ts, msg, error, ...rest } = JSON.parse(line) as Record<string, unknown>;
          const details = Object.entries(rest).filter(([key]) => !['stacktrace', 'logging-call-at'].includes(key));
          return `${ts} ${level} ${msg}${error ? `: ${error}` : ''} ${JSON.stringify(Object.fromEntries(details))}`.slice(
            0,
            600,
          );
        } catch {
          return line.slice(0, 600);
        }
      })
      .join('\n');
  }

  // --- setup, as docker-compose.yml does it ----------------------------------------------------------------

  private get databases(): { main: string; visibility: string } {
    return this.options.databases ?? { main: 'temporal', visibility: 'temporal_visibility' };
  }

  /** The environment of docker-compose.yml's temporal-schema job, pointed at our PostgreSQL and schema files. */
  private schemaEnv(): Record<string, string> {
    const pg = this.options.postgres;
    return {
      POSTGRES_SEEDS: pg.host,
      DB_PORT: String(pg.port),
      POSTGRES_USER: pg.user,
      SQL_PASSWORD: pg.password,
      DBNAME: this.databases.main,
      VISIBILITY_DBNAME: this.databases.visibility,
      SCHEMA_DIR: this.binaries.schemaDir,
    };
  }

  /** The environment of docker-compose.yml's temporal-setup job. */
  private namespaceEnv(): Record<string, string> {
    return { TEMPORAL_ADDRESS: this.address, TEMPORAL_NAMESPACE: this.namespace, TEMPORAL_RETENTION: '720h' };
  }

  /** Runs deploy/temporal/<script> with sh, our binaries first on PATH; throws with its output on failure. */
  private runDeployScript(script: string, env: Record<string, string>, timeoutMs: number): Promise<void> {
    // The names the scripts call, as in the admin-tools image: temporal-sql-tool, and temporal (our CLI, whatever its file is called).
    const bin = path.join(this.options.workDir, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    for (const [name, target] of [
      ['temporal-sql-tool', path.join(this.binaries.dir, 'temporal-sql-tool')],
      ['temporal', this.binaries.cli],
    ]) {
      fs.rmSync(path.join(bin, name), { force: true });
      fs.symlinkSync(target, path.join(bin, name));
    }
    const PATH = [bin, process.env.PATH ?? '/usr/bin:/bin'].join(path.delimiter);
    const child = spawn('sh', [path.join(deployDir, script)], {
      cwd: this.options.workDir,
      env: { ...process.env, ...env, PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-10_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        fs.appendFileSync(path.join(this.options.workDir, `${script}.log`), output);
        if (code === 0) resolve();
        else {
          const why =
            signal === 'SIGKILL' ? `did not finish within ${timeoutMs / 1000}s` : `failed (${code ?? signal})`;
          const serverLog = this.child ? `\n--- temporal-server log ---\n${this.logTail(10)}` : '';
          reject(new Error(`deploy/temporal/${script} ${why}:\n${output}${serverLog}`));
        }
      });
    });
  }

  /** Health SERVING, and (once created) the namespace described: what a worker or client needs. */
  private async waitUntilServing(gone: () => string | undefined, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = 'no answer yet';
    for (;;) {
      if (gone()) throw new Error(`temporal-server ${gone()} while starting:\n${this.logTail()}`);
      if (Date.now() > deadline) {
        throw new Error(
          `temporal-server did not serve ${this.address} within ${timeoutMs / 1000}s (${lastError}):\n${this.logTail()}`,
        );
      }
      try {
        if (await this.serving()) return;
        lastError = 'health check not SERVING';
      } catch (err) {
        lastError = (err as Error).message;
      }
      await sleep(250);
    }
  }

  private async serving(): Promise<boolean> {
    const connection = await Connection.connect({ address: this.address, connectTimeout: 2_000 });
    try {
      const health = await connection.withDeadline(Date.now() + 2_000, () =>
        connection.healthService.check({ service: 'temporal.api.workflowservice.v1.WorkflowService' }),
      );
      if (health.status !== 1 /* SERVING */) return false;
      if (this.namespaceCreated) {
        await connection.withDeadline(Date.now() + 2_000, () =>
          connection.workflowService.describeNamespace({ namespace: this.namespace }),
        );
      }
      return true;
    } finally {
      await connection.close();
    }
  }

  /**
   * The server config: what the temporalio/server image renders from its embedded template
   * (common/config/config_template_embedded.yaml) for docker-compose.yml's environment (DB=postgres12), with each
   * service on loopback ports of its own and the dynamic config of the compose stack. Archival is left out (the
   * template enables it for the cluster, but every namespace has it off).
   */
  private serverConfig(): string {
    const pg = this.options.postgres;
    const p = this.ports;
    const store = (database: string, maxConns: number) => `
      sql:
        pluginName: "postgres12"
        databaseName: ${JSON.stringify(database)}
        connectAddr: "${pg.host}:${pg.port}"
        connectProtocol: "tcp"
        user: ${JSON.stringify(pg.user)}
        password: ${JSON.stringify(pg.password)}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: "1h"`;
    const service = (grpcPort: number, membershipPort: number, httpPort?: number) => `
    rpc:
      grpcPort: ${grpcPort}
      membershipPort: ${membershipPort}
      bindOnIP: "127.0.0.1"${httpPort === undefined ? '' : `\n      httpPort: ${httpPort}`}`;
    return `# Written by test/support/production-temporal.ts; see its header.
log:
  stdout: true
  level: ${JSON.stringify(this.options.logLevel ?? 'info')}

persistence:
  numHistoryShards: 4
  defaultStore: default
  visibilityStore: visibility
  datastores:
    default:${store(this.databases.main, 20)}
    visibility:${store(this.databases.visibility, 10)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  pprof:
    port: 0

services:
  frontend:${service(p.frontend, p.frontendMembership, p.frontendHttp)}
  matching:${service(p.matching, p.matchingMembership)}
  history:${service(p.history, p.historyMembership)}
  worker:${service(p.worker, p.workerMembership)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${p.frontend}"
      httpAddress: "127.0.0.1:${p.frontendHttp}"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: ${JSON.stringify(path.join(deployDir, 'dynamicconfig.yaml'))}
  pollInterval: "60s"
`;
  }
}
