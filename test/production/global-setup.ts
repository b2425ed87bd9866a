/**
 * Global setup of `npm run test:production`: hands one bundle of workflows/, of the sources as they are now
 * (test/support/workflow-bundle.ts), to every `npm run worker` the tests start (WORKFLOW_BUNDLE_PATH, as the Docker
 * image runs its worker). The tests start many workers (restarts, crashes, two at once); each would bundle for itself.
 */
import { testWorkflowBundle } from '../support/workflow-bundle';

export default async function globalSetup(): Promise<void> {
  process.env.WORKFLOW_BUNDLE_PATH = await testWorkflowBundle();
}
