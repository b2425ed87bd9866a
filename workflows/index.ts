/** Every workflow the worker runs. Nothing here imports Node built-ins, the DB or the network. */
export { LabDigestWorkflow } from './digest';
export { RedcapIntakeWorkflow } from './intake';
export { RedcapReconcileWorkflow } from './reconcile';
export { ScanDownloadWorkflow } from './scan-download';
export { ScanImportWorkflow } from './scan-import';
