/**
 * `npm run build:bundle [OUTPUT]`: bundles workflows/index.ts once (webpack, as the worker would at start)
 * and writes it to dist/workflow-bundle.js, or OUTPUT. The compiled worker (node dist/src/worker.js, the
 * Docker image) loads it instead of bundling at every start; see src/temporal/workflow-bundle.ts.
 */
import path from 'node:path';
import { defaultBundlePath, workflowsPath, writeWorkflowBundle } from '../src/temporal/workflow-bundle';

async function main(): Promise<void> {
  const output = process.argv[2] ? path.resolve(process.argv[2]) : defaultBundlePath;
  const bytes = await writeWorkflowBundle(output);
  console.log(
    `workflow bundle: ${path.relative(process.cwd(), workflowsPath)} -> ${output} (${Math.round(bytes / 1024)} KiB)`,
  );
}

main().catch((err) => {
  console.error(`build:bundle failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
