/**
 * The few typed errors the services throw. The HTTP layer maps them to problem JSON and the CLI
 * to exit codes; anything else is an internal error whose details are never shown.
 */
export type FieldProblem = { path: string; message: string };

export class AppError extends Error {
  readonly status: number = 500;
  readonly title: string = 'Internal Server Error';
}

export class NotFoundError extends AppError {
  override name = 'NotFoundError';
  override readonly status = 404;
  override readonly title = 'Not Found';
}

export class ForbiddenError extends AppError {
  override name = 'ForbiddenError';
  override readonly status = 403;
  override readonly title = 'Forbidden';
}

export class UnauthorizedError extends AppError {
  override name = 'UnauthorizedError';
  override readonly status = 401;
  override readonly title = 'Unauthorized';
}

export class ConflictError extends AppError {
  override name = 'ConflictError';
  override readonly status = 409;
  override readonly title = 'Conflict';
}

export class ValidationError extends AppError {
  override name = 'ValidationError';
  override readonly status = 400;
  override readonly title = 'Bad Request';
  readonly errors: FieldProblem[];
  constructor(message: string, errors: FieldProblem[] = []) {
    super(message);
    this.errors = errors;
  }
}

export class UnavailableError extends AppError {
  override name = 'UnavailableError';
  override readonly status = 503;
  override readonly title = 'Service Unavailable';
}

const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '53300']);

/** Translates PostgreSQL and connection errors in one place. */
export function translateDbError(err: unknown): unknown {
  const e = err as { code?: string };
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
