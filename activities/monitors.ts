/** Activities of ScanImportWorkflow and ScanDownloadWorkflow: check scans, send mail, submit jobs. */
import type { ActivityDeps } from './deps';

export function createMonitorActivities(_deps: ActivityDeps) {
  return {};
}
