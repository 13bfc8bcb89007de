import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { CredentialService } from '../../access/credentials.ts';
import type { AccessService, Principal } from '../../access/service.ts';
import { ValidationError } from '../../shared/errors.ts';
import { caller, SESSION_COOKIE } from '../auth.ts';
import { problems, TokenSchema, Uuid } from '../schemas.ts';
import type { StreamRegistry } from '../stream-registry.ts';

export type AccountRouteOptions = {
  access: AccessService;
  credentials: CredentialService;
  /** Wrong password confirmations per user in 15 minutes (a right one starts afresh). */
  passwordFailuresPerUser: number;
  streams: StreamRegistry;
  cookieOptions: { path: string; httpOnly: boolean; sameSite: 'strict'; secure: boolean };
};

class TooManyAttempts extends Error {
  statusCode = 429;
  headers: Record<string, string>;
  constructor(retryAfterSeconds: number) {
    super('too many password attempts; retry later');
    this.headers = { 'retry-after': String(retryAfterSeconds) };
  }
}

const Password = Type.String({ minLength: 1, maxLength: 1024, description: 'The current password' });

/**
 * The caller's own credentials: API tokens, the password, and "sign out everywhere". Making a
 * token, changing the password and signing out everywhere all need a signed-in session (cookie and
 * CSRF header) that sends the current password with the request; a token can do none of them.
 */
export function registerAccountRoutes(root: FastifyInstance, opts: AccountRouteOptions) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { access, credentials, streams } = opts;
  // Guesses of the password by someone holding a session (a stolen cookie): counted per account,
  // before the check, in the database as sign-ins are, so concurrent guesses through any number of
  // processes cannot all slip through.
  const failures = credentials.attemptLimiter({
    scope: 'password',
    limit: opts.passwordFailuresPerUser,
    windowSeconds: 15 * 60,
  });
  const withPassword = async <T>(request: FastifyRequest, fn: (p: Principal) => Promise<T>): Promise<T> => {
    const p = caller(request);
    const counted = p.via === 'session';
    if (counted) {
      const wait = await failures.take(p.userId);
      if (wait > 0) throw new TooManyAttempts(wait);
    }
    try {
      const result = await fn(p);
      if (counted) await failures.reset(p.userId);
      return result;
    } catch (err) {
      // The password was right and something else was wrong (a weak new password): not a guess.
      if (counted && err instanceof ValidationError) await failures.reset(p.userId);
      throw err;
    }
  };
  const endStreams = (revoked: { sessionIds: string[]; tokenIds: string[] }) => {
    for (const id of revoked.sessionIds) streams.endSession(id);
    for (const id of revoked.tokenIds) streams.endToken(id);
  };

  app.get(
    '/api/v1/me/tokens',
    {
      // Query values are text and the validator coerces nothing: the one number is read here.
      preValidation: async (request) => {
        const q = request.query as Record<string, unknown>;
        if (typeof q.limit === 'string' && /^\d{1,4}$/.test(q.limit)) q.limit = Number(q.limit);
      },
      schema: {
        summary: "The caller's live API tokens (never their secrets), newest first, a page at a time",
        tags: ['tokens'],
        querystring: Type.Object(
          {
            limit: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: 200,
                format: 'int32',
                description: 'tokens per page, default 50',
              }),
            ),
            cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            data: Type.Array(TokenSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...problems(400, 401),
        },
      },
    },
    async (request) =>
      credentials.listTokens(caller(request).userId, {
        limit: request.query.limit,
        cursor: request.query.cursor ?? null,
      }),
  );

  app.post(
    '/api/v1/me/tokens',
    {
      schema: {
        summary:
          'Create an API token; its secret is in this response only. Needs a signed-in session and the current password: a token cannot mint tokens',
        tags: ['tokens'],
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            scope: Type.Optional(
              Type.Union([Type.Literal('read'), Type.Literal('operate')], {
                description:
                  'read: read only; operate: also start, cancel and retry runs and manage schedules',
                default: 'operate',
              }),
            ),
            expiresInDays: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: 36500,
                format: 'int32',
                description:
                  'Days until it expires: the installation default when absent, at most TOKEN_MAX_DAYS',
              }),
            ),
            password: Password,
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            token: TokenSchema,
            secret: Type.String({ description: 'Send as `Authorization: Bearer <secret>`' }),
          }),
          ...problems(400, 401, 403, 413, 429),
        },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const created = await withPassword(request, async (p) => {
        await access.confirmPassword(p, body.password);
        return credentials.createToken(p.userId, body.name, {
          scope: body.scope,
          expiresInDays: body.expiresInDays,
        });
      });
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  app.delete(
    '/api/v1/me/tokens/:id',
    {
      schema: {
        summary: 'Revoke one of the caller’s API tokens',
        tags: ['tokens'],
        params: Type.Object({ id: Uuid }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await credentials.revokeToken(caller(request).userId, request.params.id);
      streams.endToken(request.params.id.toLowerCase());
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/v1/me/password',
    {
      schema: {
        summary:
          'Change the password (the current one is required); ends every other session and revokes every API token of the caller',
        tags: ['session'],
        body: Type.Object(
          { currentPassword: Password, newPassword: Type.String({ minLength: 1, maxLength: 1024 }) },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 413, 429) },
      },
    },
    async (request, reply) => {
      const { currentPassword, newPassword } = request.body;
      endStreams(await withPassword(request, (p) => access.changePassword(p, currentPassword, newPassword)));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/v1/auth/logout-everywhere',
    {
      schema: {
        summary:
          'Sign out everywhere: ends every session of the caller, this one included, and revokes every API token of theirs (the current password is required)',
        tags: ['session'],
        body: Type.Object({ password: Password }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 413, 429) },
      },
    },
    async (request, reply) => {
      const { password } = request.body;
      endStreams(await withPassword(request, (p) => access.signOutEverywhere(p, password)));
      reply.clearCookie(SESSION_COOKIE, opts.cookieOptions);
      return reply.code(204).send(null);
    },
  );
}
