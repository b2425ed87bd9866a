/** Everything the workflows do to the world, built from the dependencies handed in. */
import type { ActivityDeps } from './deps';
import { createDigestActivities } from './digest';
import { createIntakeActivities } from './intake';
import { createMailActivities } from './mail';
import { createMonitorActivities } from './monitors';
import { createReconcileActivities } from './reconcile';

export { activityDepsFrom, type ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createIntakeActivities(deps),
    ...createMonitorActivities(deps),
    ...createMailActivities(deps),
    ...createReconcileActivities(deps),
    ...createDigestActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
