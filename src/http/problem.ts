import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  AppError,
  ConflictError,
  type FieldProblem,
  ForbiddenError,
  NotFoundError,
  translateDbError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '../shared/errors.ts';

export type ProblemBody = {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldProblem[];
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * Every 404 has one body, whatever was missing and why: an id of another tenant must be
 * indistinguishable from an id that never existed.
 */
export const NOT_FOUND: ProblemBody = {
  type: 'about:blank',
  title: 'Not Found',
  status: 404,
  detail: 'The resource does not exist or is not visible to you.',
};

export function problem(status: number, detail: string, errors?: FieldProblem[]): ProblemBody {
  if (status === 404) return NOT_FOUND;
  return {
    type: 'about:blank',
    title: TITLES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request'),
    status,
    detail,
    ...(errors && errors.length > 0 ? { errors } : {}),
  };
}

/** Each typed error's status: the one place a domain error becomes HTTP. */
export function statusOf(err: AppError): number {
  if (err instanceof ValidationError) return 400;
  if (err instanceof UnauthorizedError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof UnavailableError) return 503;
  return 500;
}

export function sendProblem(reply: FastifyReply, body: ProblemBody): FastifyReply {
  return reply.code(body.status).type('application/problem+json; charset=utf-8').send(body);
}

type AjvIssue = { instancePath?: string; message?: string; params?: Record<string, unknown> };

function validationProblems(err: FastifyError & { validation?: AjvIssue[]; validationContext?: string }) {
  const where = err.validationContext === 'querystring' ? '' : `/${err.validationContext ?? 'body'}`;
  return (err.validation ?? []).slice(0, 20).map((v) => {
    const missing = v.params?.missingProperty ?? v.params?.additionalProperty;
    const path = `${where}${v.instancePath ?? ''}${missing ? `/${String(missing)}` : ''}`;
    return { path: path || '/', message: (v.message ?? 'is not valid').slice(0, 200) };
  });
}

/**
 * The one place errors become responses. Typed application errors and the framework's own 4xx
 * are shown; anything else is logged in full and answered with a bare 500, so internals (SQL,
 * stack traces, connection strings) never reach a client.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((raw: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const err = translateDbError(raw) as FastifyError & { validation?: AjvIssue[]; headers?: unknown };
    if (err instanceof ValidationError) {
      return sendProblem(reply, problem(400, err.message, err.errors));
    }
    if (err instanceof AppError) {
      const status = statusOf(err);
      if (status >= 500) request.log.warn({ err }, 'request failed');
      return sendProblem(reply, problem(status, status === 500 ? 'an internal error occurred' : err.message));
    }
    if (err.validation) {
      return sendProblem(
        reply,
        problem(400, 'the request does not match the schema', validationProblems(err)),
      );
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      if (status === 429 && err.headers) reply.headers(err.headers as Record<string, string>);
      return sendProblem(
        reply,
        problem(status, status === 429 ? 'too many requests; retry later' : err.message),
      );
    }
    request.log.error({ err }, 'unhandled error');
    return sendProblem(reply, problem(500, 'an internal error occurred'));
  });

  app.setNotFoundHandler((_request, reply) => sendProblem(reply, NOT_FOUND));

  // PostgreSQL cannot store a NUL character in text or jsonb; such input is the client's error
  // and must be refused here, not surface as a 500 from deep inside a query.
  app.addHook('preValidation', async (request) => {
    if (containsNul(request.body) || containsNul(request.query)) {
      throw new ValidationError('text may not contain NUL characters', [
        { path: '/', message: 'contains NUL' },
      ]);
    }
  });
}

function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > 64) return false;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000') || containsNul(v, depth + 1)) return true;
  }
  return false;
}
