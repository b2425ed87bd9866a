/**
 * Starting a session's monitors (contract "Temporal"): business ids, USE_EXISTING so a second start joins the
 * running monitor, typed search attributes and a memo so ops find the session in the Web UI.
 * Used by the intake activities and by anything else that (re)starts monitors.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config';

export interface MonitorTarget {
  sessionId: string;
  studyId: string;
  siteId: string;
  /** Set where the study/site has a download script: a ScanDownloadWorkflow is started too. */
  downloadScript?: string | null;
}

export interface StartedMonitors {
  scanImport: { workflowId: string; runId: string };
  scanDownload?: { workflowId: string; runId: string };
}

export async function startScanMonitors(_client: Client, _config: Config, _target: MonitorTarget): Promise<StartedMonitors> {
  throw new Error('startScanMonitors: not implemented yet (issue 5)');
}
