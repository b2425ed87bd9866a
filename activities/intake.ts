/** Activities of RedcapIntakeWorkflow: read the record from REDCap, file it, start the monitors. */
import type { ActivityDeps } from './deps';

export function createIntakeActivities(_deps: ActivityDeps) {
  return {};
}
