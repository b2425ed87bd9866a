/**
 * Frozen releases of the workflow code (test/fixtures/releases/<version>/workflows): bundled once per process,
 * written to a file for a worker process (WORKFLOW_BUNDLE_PATH), or run by an in-process worker, so that a test
 * can start workflows on the code labs run and finish them on the code of this checkout.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DefaultLogger,
  Worker,
  bundleWorkflowCode,
  type NativeConnection,
  type WorkerOptions,
  type WorkflowBundle,
} from '@temporalio/worker';
import { jobsTaskQueue } from '../../surface';
import { PATCHES, type PatchLife } from '../../workflows/patches';
import { compareReleases, packageVersion } from './release-versions';

export const RELEASES_DIR = path.resolve(__dirname, '..', 'fixtures', 'releases');

/** The newest release labs run: the deploy fault test starts its workflows on its code. */
export const CURRENT_RELEASE = '0.2.0';

/**
 * The frozen releases whose workflows this checkout must still take over (release-switch starts from each): those
 * for which every patch added after them is still live, i.e. not yet deprecated at package.json's version
 * (workflows/patches.ts). Workflows of an older release must have ended before this one is deployed.
 */
export function runningReleases(): string[] {
  const version = packageVersion();
  const patches = Object.values(PATCHES) as PatchLife[];
  return frozenReleases().filter((release) =>
    patches.every(
      (patch) => compareReleases(patch.added, release) <= 0 || compareReleases(version, patch.deprecated) < 0,
    ),
  );
}

/** The entry of a frozen release's workflows, e.g. test/fixtures/releases/0.1.0/workflows/index.ts. */
export function releaseWorkflowsPath(version: string): string {
  const entry = path.join(RELEASES_DIR, version, 'workflows', 'index.ts');
  if (!fs.existsSync(entry))
    throw new Error(
      `no frozen workflow code of release ${version} at ${entry} (see ${path.join(RELEASES_DIR, 'README.md')})`,
    );
  return entry;
}

/** Whether a frozen release has a workflow type (e.g. RedcapReconcileWorkflow came with 0.2.0). */
export function releaseHasWorkflow(version: string, workflowType: string): boolean {
  return new RegExp(`\\b${workflowType}\\b`).test(fs.readFileSync(releaseWorkflowsPath(version), 'utf8'));
}

/** Every frozen release, oldest first. */
export function frozenReleases(): string[] {
  if (!fs.existsSync(RELEASES_DIR)) return [];
  return fs
    .readdirSync(RELEASES_DIR)
    .filter((version) => fs.existsSync(path.join(RELEASES_DIR, version, 'workflows', 'index.ts')))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

/**
 * A frozen release's own starters (test/fixtures/releases/<version>/start.ts, which every release has with the
 * same exports): its workflows started with the ids, inputs, search attributes and memo of that release.
 */
export function releaseStarters(version: string): typeof import('../fixtures/releases/0.1.0/start') {
  releaseWorkflowsPath(version);
  // required at run time: the version is a value
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(RELEASES_DIR, version, 'start')) as typeof import('../fixtures/releases/0.1.0/start');
}

const bundles = new Map<string, Promise<WorkflowBundle>>();

/** The release's workflow bundle (webpack, as the worker would build it), built once per process. */
export function releaseBundle(version: string): Promise<WorkflowBundle> {
  let bundle = bundles.get(version);
  if (!bundle) {
    bundle = bundleWorkflowCode({
      workflowsPath: releaseWorkflowsPath(version),
      logger: new DefaultLogger('WARN'),
    }).then(({ code }) => ({ code }));
    bundles.set(version, bundle);
  }
  return bundle;
}

/** Writes the release's bundle to `file`, for `npm run worker` with WORKFLOW_BUNDLE_PATH; returns `file`. */
export async function writeReleaseBundle(version: string, file: string): Promise<string> {
  const { code } = await releaseBundle(version);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, code);
  return file;
}

/** A release's worker: its workflows and every activity on the task queue, the job activities on the jobs queue. */
export interface ReleaseWorker {
  /** Named in the history of every workflow task it completes (WorkflowTaskCompleted identity). */
  identity: string;
  run(): Promise<void>;
  shutdown(): void;
  getState(): ReturnType<Worker['getState']>;
}

/**
 * An in-process worker on a frozen release's workflow code, with the activities given (today's, real ones), as
 * `npm run worker` runs it: since 0.2.0 the job activities run on the jobs queue (surface jobsTaskQueue).
 */
export async function createReleaseWorker(options: {
  version: string;
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  activities: object;
  /** e.g. maxCachedWorkflows */
  options?: Partial<WorkerOptions>;
}): Promise<ReleaseWorker> {
  const identity = `${process.pid}@${os.hostname()} release ${options.version}`;
  const common = {
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    activities: options.activities,
  };
  const monitors = await Worker.create({
    identity,
    ...options.options,
    ...common,
    taskQueue: options.taskQueue,
    workflowBundle: await releaseBundle(options.version),
  });
  const jobs = await Worker.create({ ...common, taskQueue: jobsTaskQueue(options.taskQueue) });
  const workers = [monitors, jobs];
  return {
    identity,
    run: async () => {
      await Promise.all(workers.map((worker) => worker.run()));
    },
    shutdown: () => workers.forEach((worker) => worker.getState() === 'RUNNING' && worker.shutdown()),
    getState: () => monitors.getState(),
  };
}
