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

export const RELEASES_DIR = path.resolve(__dirname, '..', 'fixtures', 'releases');

/** The newest release labs run: the release-switch and deploy tests start their workflows on its code. */
export const CURRENT_RELEASE = '0.1.0';

/** The entry of a frozen release's workflows, e.g. test/fixtures/releases/0.1.0/workflows/index.ts. */
export function releaseWorkflowsPath(version: string): string {
  const entry = path.join(RELEASES_DIR, version, 'workflows', 'index.ts');
  if (!fs.existsSync(entry))
    throw new Error(
      `no frozen workflow code of release ${version} at ${entry} (see ${path.join(RELEASES_DIR, 'README.md')})`,
    );
  return entry;
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

/** An in-process worker on a frozen release's workflow code, with the activities given (today's, real ones). */
export async function createReleaseWorker(options: {
  version: string;
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  activities: object;
  /** e.g. maxCachedWorkflows */
  options?: Partial<WorkerOptions>;
}): Promise<Worker> {
  return Worker.create({
    // Named in the history of every workflow task it completes (WorkflowTaskCompleted identity).
    identity: `${process.pid}@${os.hostname()} release ${options.version}`,
    ...options.options,
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue,
    workflowBundle: await releaseBundle(options.version),
    activities: options.activities,
  });
}
