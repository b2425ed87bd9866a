export { applyLabConfig, type ApplyReport, type EntityChange } from './apply';
export { parseLabConfig, type ParsedLabConfig } from './parse';
export { LabConfigError, type ConfigProblem } from './problems';
export { formatReport } from './report';
export { type LabConfig } from './schema';
