/**
 * The few typed errors the services throw. They carry no HTTP status: the HTTP layer's problem
 * mapping (src/http/problem.ts) is the only place they become responses, and the CLI maps them to
 * exit codes; anything else is an internal error whose details are never shown.
 */
export type FieldProblem = { path: string; message: string };

/** The base of the typed errors. They say what went wrong, not how a transport shows it. */
export class AppError extends Error {}

export class NotFoundError extends AppError {
  override name = 'NotFoundError';
}

export class ForbiddenError extends AppError {
  override name = 'ForbiddenError';
}

export class UnauthorizedError extends AppError {
  override name = 'UnauthorizedError';
}

export class ConflictError extends AppError {
  override name = 'ConflictError';
}

export class ValidationError extends AppError {
  override name = 'ValidationError';
  readonly errors: FieldProblem[];
  constructor(message: string, errors: FieldProblem[] = []) {
    super(message);
    this.errors = errors;
  }
}

export class UnavailableError extends AppError {
  override name = 'UnavailableError';
}

const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '53300']);

// The driver's own words for a connection that is gone or cannot be had (these carry no code).
const CONNECTION_LOST =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable)/;

/** Translates PostgreSQL and connection errors in one place. */
export function translateDbError(err: unknown): unknown {
  const e = err as { code?: string; message?: unknown };
  if (err instanceof Error && !(err instanceof AppError) && CONNECTION_LOST.test(err.message)) {
    return new UnavailableError('the database is unavailable');
  }
  if (typeof e?.code === 'string') {
    if (UNAVAILABLE_CODES.has(e.code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'].includes(e.code)) {
      return new UnavailableError('the database is unavailable');
    }
    if (e.code === '57014') return new UnavailableError('the query took too long');
  }
  return err;
}

/** Runs database work so that connection and timeout failures surface as typed errors. */
export async function withDbErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translateDbError(err);
  }
}
