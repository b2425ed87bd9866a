import { Context } from '@temporalio/activity';
import pino from 'pino';

/** Inside an activity, every line names the workflow (whose id names the session) and the activity. */
function activityFields(): Record<string, string | undefined> {
  try {
    const { workflowExecution, activityType } = Context.current().info;
    return { workflowId: workflowExecution?.workflowId, runId: workflowExecution?.runId, activityType };
  } catch {
    return {};
  }
}

/** Structured JSON logs. Secrets are redacted wherever they might be passed in. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: 'redcap-scan-monitor' },
  mixin: activityFields,
  redact: {
    paths: [
      'token',
      '*.token',
      '*.*.token',
      'authorization',
      '*.authorization',
      'headers.authorization',
      'secret',
      '*.secret',
      'password',
      '*.password',
      '*.*.password',
      'cookie',
      '*.cookie',
      'headers.cookie',
    ],
    censor: '[redacted]',
  },
});

export type Logger = pino.Logger;
