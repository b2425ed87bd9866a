/**
 * Domain errors. Each carries the HTTP status the API answers with, and a message a person can act on.
 * errorResponse (used by the error middleware in app.ts) maps them, and a database or Temporal that does not answer
 * to a 503 naming it, whichever route met it; anything else is a 500 with a generic message.
 */
import { DriverException } from '@mikro-orm/core';
import { isGrpcServiceError } from '@temporalio/client';

export class DomainError extends Error {
  readonly status: number = 500;
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends DomainError {
  override readonly status = 400;
}
export class UnauthorizedError extends DomainError {
  override readonly status = 401;
}
export class ForbiddenError extends DomainError {
  override readonly status = 403;
}
export class NotFoundError extends DomainError {
  override readonly status = 404;
}
export class ConflictError extends DomainError {
  override readonly status = 409;
}
/** A service we depend on (database, Temporal) does not answer. */
export class UnavailableError extends DomainError {
  override readonly status = 503;
}

/** Maps any thrown value to the JSON the API answers with. */
export function errorResponse(err: unknown): { status: number; body: Record<string, unknown> } {
  if (err instanceof DomainError) {
    return { status: err.status, body: { error: err.message, ...err.details } };
  }
  const service = unavailableService(err);
  if (service) {
    const name = service === 'database' ? 'Database' : 'Temporal';
    return {
      status: 503,
      body: { error: `${name} unavailable: it did not answer; try again when it is back`, unavailable: service },
    };
  }
  if (isDecompressionError(err)) {
    return {
      status: 400,
      body: { error: 'The body could not be decompressed: it does not match its Content-Encoding' },
    };
  }
  const httpError = err as { status?: number; expose?: boolean; message?: string; type?: string };
  if (typeof httpError?.status === 'number' && httpError.status >= 400 && httpError.status < 500) {
    // Errors from Koa middleware such as the body parser (413 too large, 400 malformed, 415 ...).
    return {
      status: httpError.status,
      body: { error: httpError.expose && httpError.message ? httpError.message : 'Bad request' },
    };
  }
  return { status: 500, body: { error: 'Internal error; the details are in the service log' } };
}

/** zlib (gzip, deflate) and brotli errors from a body that does not match its Content-Encoding. */
function isDecompressionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(Z_|ERR__ERROR_)/.test(code);
}

/** Errors of a database that cannot be reached or went away (Node's socket codes, PostgreSQL's classes 08 and 57P). */
const DATABASE_DOWN_CODES =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|08...|57P0[123])$/;
const DATABASE_DOWN_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Timeout acquiring a connection|Client has encountered a connection error/i;
/** gRPC UNAVAILABLE and DEADLINE_EXCEEDED: the Temporal frontend does not answer (in time). */
const TEMPORAL_DOWN_CODES = new Set([14, 4]);

/**
 * Which service an error says is not answering: the database (a driver error of the connection, not of the SQL) or
 * Temporal (a gRPC UNAVAILABLE or DEADLINE_EXCEEDED, also when the SDK wraps it in a ServiceError); undefined for
 * anything else, which stays a bug to see.
 */
export function unavailableService(err: unknown): 'database' | 'temporal' | undefined {
  for (let cause = err, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (isGrpcServiceError(cause)) return TEMPORAL_DOWN_CODES.has(cause.code) ? 'temporal' : undefined;
    const code = (cause as { code?: unknown }).code;
    const databaseError = cause instanceof DriverException || cause.name === 'KnexTimeoutError';
    if (databaseError && (DATABASE_DOWN_CODES.test(String(code ?? '')) || DATABASE_DOWN_MESSAGES.test(cause.message)))
      return 'database';
  }
  return undefined;
}
