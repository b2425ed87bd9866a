/**
 * Starting a session's monitors (contract "Temporal"): business ids, USE_EXISTING so a second start joins the
 * running monitor, typed search attributes and a memo so ops find the session in the Web UI.
 * Used by the intake activities and by anything else that (re)starts monitors.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import {
  SCAN_DOWNLOAD_WORKFLOW,
  SCAN_IMPORT_WORKFLOW,
  type ScanDownloadInput,
  type ScanImportInput,
} from '../../workflows/definitions';
import { describeDuration } from '../mail/templates';
import { SessionIdAttribute, SiteIdAttribute, StudyIdAttribute } from './search-attributes';
import { scanDownloadWorkflowId, scanImportWorkflowId } from './workflow-ids';

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

/** Extra, optional knobs: explicit email recipients and an explicit end time of the download monitor. */
export interface MonitorOptions {
  recipients?: string[];
  /** ISO time; default: start + DOWNLOAD_WINDOW. */
  downloadEndTime?: string;
}

function visibility(target: MonitorTarget, monitor: string) {
  return {
    typedSearchAttributes: [
      { key: SessionIdAttribute, value: target.sessionId },
      { key: StudyIdAttribute, value: target.studyId },
      { key: SiteIdAttribute, value: target.siteId },
    ],
    memo: { sessionId: target.sessionId, studyId: target.studyId, siteId: target.siteId, monitor },
  };
}

export async function startScanMonitors(
  client: Client,
  config: Config,
  target: MonitorTarget,
  options: MonitorOptions = {},
): Promise<StartedMonitors> {
  const session = { sessionId: target.sessionId, studyId: target.studyId, siteId: target.siteId };
  const { scanCheckDelayMs, downloadWindowMs, downloadRetryInitialMs, downloadRetryMaxMs } = config.durations;

  const importInput: ScanImportInput = { ...session, checkDelayMs: scanCheckDelayMs, ...(options.recipients ? { recipients: options.recipients } : {}) };
  const scanImport = await client.workflow.start(SCAN_IMPORT_WORKFLOW, {
    taskQueue: config.taskQueue,
    workflowId: scanImportWorkflowId(target.sessionId),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [importInput],
    ...visibility(target, 'scan-import'),
    staticSummary: `Scan import check of ${target.sessionId} (${target.studyId} at ${target.siteId})`,
    staticDetails: [
      `Waits **${describeDuration(scanCheckDelayMs)}**, then checks whether scan data for \`${target.sessionId}\` arrived;`,
      'if not, emails the admins once.',
      '',
      'Signals: `scansArrived` (check now), `cancel` `{"reason": "…"}`. Query: `status`.',
    ].join('\n'),
  });
  const started: StartedMonitors = { scanImport: { workflowId: scanImport.workflowId, runId: scanImport.firstExecutionRunId } };

  if (target.downloadScript) {
    const downloadInput: ScanDownloadInput = {
      ...session,
      downloadWindowMs,
      retryInitialMs: downloadRetryInitialMs,
      retryMaxMs: downloadRetryMaxMs,
      ...(options.downloadEndTime ? { endTime: options.downloadEndTime } : {}),
    };
    const scanDownload = await client.workflow.start(SCAN_DOWNLOAD_WORKFLOW, {
      taskQueue: config.taskQueue,
      workflowId: scanDownloadWorkflowId(target.sessionId),
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [downloadInput],
      ...visibility(target, 'scan-download'),
      staticSummary: `Scan download of ${target.sessionId} with ${target.downloadScript}`,
      staticDetails: [
        `Submits \`${target.downloadScript} ${target.studyId} ${target.sessionId}\` until the session has scans,`,
        `retrying with backoff (${describeDuration(downloadRetryInitialMs)} up to ${describeDuration(downloadRetryMaxMs)})`,
        `for ${options.downloadEndTime ? `until ${options.downloadEndTime}` : describeDuration(downloadWindowMs)}; then the post-download job.`,
        '',
        'Signals: `scansArrived` (check now), `cancel` `{"reason": "…"}`. Query: `status`.',
      ].join('\n'),
    });
    started.scanDownload = { workflowId: scanDownload.workflowId, runId: scanDownload.firstExecutionRunId };
  }
  return started;
}
