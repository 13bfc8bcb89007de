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

/**
 * Helmet's default headers, for the responses the router sends before any hook runs (an overlong
 * or malformed URL); a test holds them equal to what helmet sets on every other response.
 */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
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

  // PostgreSQL cannot store a NUL character nor a lone UTF-16 surrogate in text or jsonb, and a
  // deeply nested document costs stack in every walk over it; such input is the client's error
  // and must be refused here, not surface as a 500 from deep inside a query or a recursion.
  app.addHook('preValidation', async (request) => {
    const issue = badText(request.body) ?? badText(request.query);
    if (issue) throw new ValidationError(issue, [{ path: '/', message: issue }]);
  });
}

/** Input nested deeper than this is refused: no operation's inputs come near it. */
export const MAX_INPUT_DEPTH = 32;

function badText(value: unknown, depth = 0): string | null {
  if (typeof value === 'string') return badString(value);
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_INPUT_DEPTH) return `input may be nested at most ${MAX_INPUT_DEPTH} levels deep`;
  for (const [k, v] of Object.entries(value)) {
    const issue = badString(k) ?? badText(v, depth + 1);
    if (issue) return issue;
  }
  return null;
}

function badString(s: string): string | null {
  if (s.includes('\u0000')) return 'text may not contain NUL characters';
  if (!s.isWellFormed()) return 'text may not contain unpaired UTF-16 surrogates';
  return null;
}
