/**
 * Where the worker gets its workflow code from.
 *
 * - `WORKFLOW_BUNDLE_PATH` set: that prebuilt bundle; a missing file stops the worker with a message naming it.
 * - Running compiled (`node dist/src/worker.js`, as in the Docker image): `dist/workflow-bundle.js`, written by
 *   `npm run build:bundle`. Without it the worker bundles `dist/workflows` at start, and says so.
 * - Running the TypeScript (`npm run worker`, `npm start`, the tests): `workflows/` is bundled at start, so
 *   an edited workflow is never shadowed by an old bundle.
 *
 * The prebuilt bundle is made with the same options the worker would use (no workflow interceptors,
 * default payload converter); keep the two in step here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { StartupError } from '../startup-failure';

/** True when this file runs as compiled JavaScript (dist/src/temporal/), false under ts-node or jest. */
const compiled = path.extname(__filename) === '.js';

/** The workflows' entry: workflows/index.ts from the sources, dist/workflows/index.js when compiled. */
export const workflowsPath = require.resolve('../../workflows');

/** `dist/workflow-bundle.js` of this checkout, from src/temporal/ (TypeScript) or dist/src/temporal/ (compiled). */
export const defaultBundlePath = compiled
  ? path.resolve(__dirname, '..', '..', 'workflow-bundle.js')
  : path.resolve(__dirname, '..', '..', 'dist', 'workflow-bundle.js');

export type WorkflowSource = Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> & {
  /** For the log line: where the workflow code comes from. */
  description: string;
};

export function workflowSource(env: NodeJS.ProcessEnv = process.env): WorkflowSource {
  const explicit = env.WORKFLOW_BUNDLE_PATH?.trim();
  if (explicit) {
    const codePath = path.resolve(explicit);
    if (!fs.existsSync(codePath)) {
      throw new StartupError(
        `WORKFLOW_BUNDLE_PATH: no workflow bundle at ${codePath} (build one with npm run build:bundle)`,
      );
    }
    return { workflowBundle: { codePath }, description: `prebuilt bundle ${codePath}` };
  }
  if (compiled && fs.existsSync(defaultBundlePath)) {
    return { workflowBundle: { codePath: defaultBundlePath }, description: `prebuilt bundle ${defaultBundlePath}` };
  }
  const description = compiled
    ? `bundled at start from ${workflowsPath} (no ${defaultBundlePath}: run npm run build:bundle after npm run build)`
    : `bundled at start from ${workflowsPath}`;
  return { workflowsPath, description };
}

/** Builds the bundle `npm run build:bundle` writes; returns its size in bytes. */
export async function writeWorkflowBundle(outputPath: string = defaultBundlePath): Promise<number> {
  const { code } = await bundleWorkflowCode({ workflowsPath });
  fs.mkdirSync(path.dirname(outputPath), { recursive: true });
  const temporary = `${outputPath}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, code);
  fs.renameSync(temporary, outputPath);
  return Buffer.byteLength(code);
}
