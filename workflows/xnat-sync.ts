/**
 * XnatSyncWorkflow: one sync of every project of an XNAT config (docs/xnat.md "The sync"), run by the schedule
 * `xnat-sync:<xnatConfigId>`. Each project is one activity: it lists the project's experiments and prearchive, files
 * the sessions that new or changed experiments name (reporting the labels that name none), and starts the
 * RedcapRecordMonitor of each new session without a REDCap record. Its history holds counts only. A project XNAT
 * fails for (after the activity's tries) does not stop the others; the run then fails with XNAT's reasons (the
 * schedule goes on, and the next run reads from the same point).
 */
import { ActivityFailure, ApplicationFailure, log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { XnatProjectSynced, XnatSyncInput, XnatSyncResult } from '../surface';
import { xnatSync } from './activity-options';

const { xnatSyncProjects, xnatSyncProject } = proxyActivities<Activities>(xnatSync);

export async function XnatSyncWorkflow(input: XnatSyncInput): Promise<XnatSyncResult> {
  const { xnatConfigId } = input;
  const projects: XnatProjectSynced[] = [];
  const failures: string[] = [];
  const projectIds = await xnatSyncProjects({ xnatConfigId });
  for (const projectId of projectIds) {
    try {
      projects.push(await xnatSyncProject({ xnatConfigId, projectId }));
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      const message = err.cause?.message ?? err.message;
      log.error('XNAT project sync failed', { xnatConfigId, projectId, error: message });
      failures.push(message);
    }
  }
  if (failures.length > 0) {
    throw ApplicationFailure.create({
      message:
        `XNAT sync of config ${xnatConfigId}: ${failures.length} of ${projectIds.length} projects failed ` +
        `(${projects.length} synced): ${failures.join('; ')}`,
      type: 'XnatSyncFailed',
      nonRetryable: true,
    });
  }
  return { projects };
}
