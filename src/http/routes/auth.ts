import { createHash } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { CredentialService } from '../../access/credentials.ts';
import type { AccessService } from '../../access/service.ts';
import { caller, SESSION_COOKIE } from '../auth.ts';
import { problems, UserSchema } from '../schemas.ts';
import type { StreamRegistry } from '../stream-registry.ts';
import { registerAccountRoutes } from './account.ts';

export type AuthRouteOptions = {
  access: AccessService;
  credentials: CredentialService;
  loginPerMinute: number;
  /** Sign-in attempts per email and client address in 15 minutes (a success starts afresh). */
  loginFailuresPerEmail: number;
  streams: StreamRegistry;
};

class TooManyAttempts extends Error {
  statusCode = 429;
  headers: Record<string, string>;
  constructor(retryAfterSeconds: number) {
    super('too many sign-in attempts; retry later');
    this.headers = { 'retry-after': String(retryAfterSeconds) };
  }
}

/** An email as logs may carry it: the first 16 hex digits of its SHA-256. */
export const emailFingerprint = (email: string) =>
  createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 16);

const Me = Type.Object({
  user: UserSchema,
  /** Send it as `x-csrf-token` on every write made with the session cookie. */
  csrfToken: Type.Union([Type.String(), Type.Null()]),
});

/** Sign-in, sign-out, the caller; the caller's own credentials are in account.ts. */
export function registerAuthRoutes(root: FastifyInstance, opts: AuthRouteOptions) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { access, credentials } = opts;
  // Attempts per account and address, counted in the database (every process shares the count). It
  // counts any email string alike, so it tells nothing about which emails exist.
  const failures = credentials.attemptLimiter({
    scope: 'sign-in',
    limit: opts.loginFailuresPerEmail,
    windowSeconds: 15 * 60,
  });
  const cookieOptions = {
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    // Always: a session cookie sent over plain HTTP once is a session anyone on the path can take.
    // Browsers (and curl) treat http://localhost as secure, so local use still works.
    secure: true,
  };

  app.post(
    '/api/v1/auth/login',
    {
      config: {
        auth: 'public',
        rateLimit: { max: opts.loginPerMinute, timeWindow: 60_000, keyGenerator: (r) => `login:${r.ip}` },
      },
      schema: {
        summary: 'Sign in; sets an httpOnly session cookie and returns the CSRF token',
        tags: ['session'],
        security: [],
        body: Type.Object(
          {
            email: Type.String({ minLength: 1, maxLength: 320 }),
            password: Type.String({ minLength: 1, maxLength: 1024 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Me, ...problems(400, 401, 413, 429) },
      },
    },
    async (request, reply) => {
      // One budget per account and client address, taken before the password is checked: a guesser
      // elsewhere cannot lock the owner out, and a burst of concurrent guesses cannot all slip
      // through before the first failure is counted. The per-address limit above bounds how many
      // accounts one address may try.
      const email = request.body.email.trim().toLowerCase();
      const key = `${email}|${request.ip}`;
      // Failed sign-ins are what an operator watches for: at warn, with the email hashed (a
      // fingerprint to group attempts by, never the address itself) and the client address.
      const failed = (reason: string) =>
        request.log.warn(
          { emailHash: emailFingerprint(email), clientIp: request.ip, reason },
          'sign-in failed',
        );
      const wait = await failures.take(key);
      if (wait > 0) {
        failed('throttled');
        throw new TooManyAttempts(wait);
      }
      const user = await access.verifyCredentials(request.body.email, request.body.password).catch((err) => {
        failed('bad_credentials');
        throw err;
      });
      await failures.reset(key);
      const session = await credentials.createSession(user.id);
      reply.setCookie(SESSION_COOKIE, session.cookie, {
        ...cookieOptions,
        maxAge: credentials.sessionTtlSeconds,
      });
      return { user, csrfToken: session.csrfToken };
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      schema: {
        summary: 'Sign out: ends the session',
        tags: ['session'],
        response: { 204: Type.Null(), ...problems(401, 403) },
      },
    },
    async (request, reply) => {
      const p = caller(request);
      if (p.sessionId) {
        await credentials.endSession(p.sessionId);
        opts.streams.endSession(p.sessionId);
      }
      reply.clearCookie(SESSION_COOKIE, cookieOptions);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/v1/me',
    {
      schema: { summary: 'The signed-in caller', tags: ['session'], response: { 200: Me, ...problems(401) } },
    },
    async (request) => {
      const p = caller(request);
      return {
        user: { id: p.userId, email: p.email, displayName: p.displayName },
        csrfToken: p.sessionId ? credentials.csrfToken(p.sessionId) : null,
      };
    },
  );

  registerAccountRoutes(root, {
    access,
    credentials,
    passwordFailuresPerUser: opts.loginFailuresPerEmail,
    streams: opts.streams,
    cookieOptions,
  });
}
