/** Everything the workflows do to the world, built from the dependencies handed in. */
import { RedcapClient } from '../src/redcap/client';
import type { ActivityDeps } from './deps';
import { createDigestActivities } from './digest';
import { createIntakeActivities } from './intake';
import { createMailActivities } from './mail';
import { createMonitorActivities } from './monitors';
import { createReconcileActivities } from './reconcile';

export { activityDepsFrom, type ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  // One REDCap client: the record id field reconciliation reads serves the intakes' exports too.
  const redcap = new RedcapClient();
  return {
    ...createIntakeActivities(deps, redcap),
    ...createMonitorActivities(deps),
    ...createMailActivities(deps),
    ...createReconcileActivities(deps, redcap),
    ...createDigestActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
