/**
 * Domain errors. Each carries the HTTP status the API answers with, and a message a person can act on.
 * The error middleware in app.ts maps them; anything else is a 500 with a generic message.
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
