/** Business workflow ids (contract "Temporal"): a second start for a running id joins the running one. */
export const scanImportWorkflowId = (sessionId: string) => `scan-import:${sessionId}`;
export const scanDownloadWorkflowId = (sessionId: string) => `scan-download:${sessionId}`;
export const redcapIntakeWorkflowId = (configId: number, record: string, event?: string | null) =>
  `redcap-intake:${configId}:${record}${event ? `:${event}` : ''}`;
