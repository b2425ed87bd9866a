/**
 * Global setup of `npm run test:production`: bundles workflows/ once, from the sources as they are now, and
 * hands the bundle to every `npm run worker` the tests start (WORKFLOW_BUNDLE_PATH, as the Docker image runs
 * its worker). The tests start many workers (restarts, crashes, two at once); each would bundle for itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeWorkflowBundle } from '../../src/temporal/workflow-bundle';

export default async function globalSetup(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redcap-scan-monitor-bundle-'));
  const bundle = path.join(dir, 'workflow-bundle.js');
  await writeWorkflowBundle(bundle);
  process.env.WORKFLOW_BUNDLE_PATH = bundle;
}
