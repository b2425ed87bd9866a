/**
 * How an entry (`npm start`, `npm run api`, `npm run worker`) ends when it cannot start: one line on stderr that
 * says what is wrong and what to do, never a stack trace (LOG_LEVEL=debug logs the details).
 */
import { logger } from './logger';

/** A start-up problem whose message already says what to do (a bad setting, a service that does not answer...). */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The one line for `err`. */
export function describeStartupFailure(err: unknown): string {
  if (err instanceof StartupError) return err.message;
  const { code, syscall, address, port, path } = (err ?? {}) as {
    code?: string;
    syscall?: string;
    address?: string;
    port?: number;
    path?: string;
  };
  if (code === 'EADDRINUSE')
    return `port ${port ?? '?'} on ${address ?? '127.0.0.1'} is in use by another program: stop it or choose another port (PORT)`;
  if (path && code && ['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'ENOSPC'].includes(code)) {
    return `cannot ${syscall ?? 'write'} ${path} (${code}): set DATA_DIR to a directory this user can write`;
  }
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return `${message} (LOG_LEVEL=debug shows the details)`;
}

/** Logs the failure in full at debug level, prints its one line, and exits 1. */
export function exitOnStartupFailure(entry: string, err: unknown): never {
  logger.debug({ err }, `${entry} could not start`);
  process.stderr.write(`${entry}: ${describeStartupFailure(err)}\n`);
  process.exit(1);
}
