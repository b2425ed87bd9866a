/**
 * The Temporal runtime of a worker process, logging through our pino logger: the SDK's own messages, workflow
 * `log` calls and the native core's warnings all come out as JSON lines carrying workflowId, runId and
 * workflowType / activityType where they concern one. Call before anything connects to Temporal.
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import type { Logger } from '../logger';

const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

function temporalLogger(logger: Logger): TemporalLogger {
  const log = (level: LogLevel, message: string, meta: LogMetadata = {}) => {
    const { error, ...rest } = meta as { error?: unknown } & Record<string, unknown>;
    logger[levels[level]]({ ...rest, ...(error !== undefined ? { err: error } : {}) }, message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/**
 * `metricsPort`: the SDK's own metrics (task slots, sticky cache, requests to the server; docs/operating.md) in
 * Prometheus text at http://127.0.0.1:<port>/metrics.
 */
export function installTemporalRuntime(
  logger: Logger,
  options: { shutdownSignals?: NodeJS.Signals[]; metricsPort?: number } = {},
): void {
  Runtime.install({
    logger: temporalLogger(logger.child({ component: 'temporal' })),
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(options.metricsPort ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${options.metricsPort}` } } } : {}),
    },
    ...(options.shutdownSignals ? { shutdownSignals: options.shutdownSignals } : {}),
  });
}
