/** Everything the workflows do to the world, built from the dependencies handed in. */
import type { ActivityDeps } from './deps';

export type { ActivityDeps } from './deps';

export function createActivities(_deps: ActivityDeps) {
  return {};
}

export type Activities = ReturnType<typeof createActivities>;
