/**
 * Domain errors. Each carries the HTTP status the API answers with, and a message a person can act on.
 * errorResponse (used by the error middleware in app.ts) maps them; anything else is a 500 with a generic message.
 */
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
