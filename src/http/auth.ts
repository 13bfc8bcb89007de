import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CredentialService } from '../access/credentials.ts';
import type { TenantAction } from '../access/roles.ts';
import type { AccessService, Principal } from '../access/service.ts';
import type { Role } from '../access/tables.ts';
import { ForbiddenError, UnauthorizedError } from '../shared/errors.ts';
import { isUuid } from '../shared/ids.ts';

export const SESSION_COOKIE = 'opsledger_session';
export const CSRF_HEADER = 'x-csrf-token';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `public` routes need no credentials; every other route does (fail closed). */
    auth?: 'public' | 'user';
    /** The action on the path's `tenantId` the caller must be allowed. */
    tenant?: TenantAction;
  }
  interface FastifyRequest {
    principal: Principal | null;
    tenantRole: Role | null;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Who is calling. Given the tenant the route acts on, the caller's role there is read by the same
 * statement (Principal.membership) for the tenant gate that follows.
 */
export async function authenticate(
  request: FastifyRequest,
  credentials: CredentialService,
  roleIn: string | null = null,
): Promise<Principal> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    // A request that presents a token is judged by the token alone, never by a cookie beside it.
    const match = /^Bearer +(\S+)$/i.exec(header);
    const principal = match ? await credentials.fromToken(match[1]!, roleIn) : null;
    if (!principal) throw new UnauthorizedError('the API token is not valid');
    return principal;
  }
  const cookie = request.cookies[SESSION_COOKIE];
  const principal = cookie ? await credentials.fromSession(cookie, roleIn) : null;
  if (!principal) throw new UnauthorizedError('sign in or send an API token');
  return principal;
}

/**
 * Authentication and the tenant gate, driven by each route's declared config rather than by URL
 * prefixes. Order matters: who are you (401), may you see this tenant at all (404, identical to
 * an unknown tenant), may your role do this (403), and, for a cookie, is this write really from
 * our page (CSRF, 403).
 */
export function installAuth(
  app: FastifyInstance,
  deps: {
    access: AccessService;
    credentials: CredentialService;
    /** Charges a refused request to its caller's budget (the address when the credential failed); may throw 429. */
    chargeRefusal?: (request: FastifyRequest) => Promise<void>;
  },
) {
  app.decorateRequest('principal', null);
  app.decorateRequest('tenantRole', null);
  app.addHook('onRequest', async (request) => {
    if (!request.routeOptions.url) return;
    const config = request.routeOptions.config;
    if (config.auth === 'public') return;
    try {
      await gate(request, config);
    } catch (err) {
      await deps.chargeRefusal?.(request);
      throw err;
    }
  });

  async function gate(request: FastifyRequest, config: FastifyRequest['routeOptions']['config']) {
    const tenantId = config.tenant ? ((request.params as { tenantId?: string }).tenantId ?? '') : '';
    const roleIn = isUuid(tenantId) ? tenantId.toLowerCase() : null;
    const principal = await authenticate(request, deps.credentials, roleIn);
    request.principal = principal;
    if (config.tenant) {
      request.tenantRole = await deps.access.authorize(principal, tenantId, config.tenant);
    }
    if (principal.via === 'session' && !SAFE_METHODS.has(request.method)) {
      const given = request.headers[CSRF_HEADER];
      if (!deps.credentials.csrfValid(principal.sessionId!, typeof given === 'string' ? given : undefined)) {
        throw new ForbiddenError(`a request signed in by cookie must send the ${CSRF_HEADER} header`);
      }
    }
  }
}

/** The signed-in caller of a route that requires one (the hook has run). */
export function caller(request: FastifyRequest): Principal {
  if (!request.principal) throw new UnauthorizedError('sign in or send an API token');
  return request.principal;
}

export function initiatorOf(p: Principal) {
  const name = p.displayName || p.email;
  return p.via === 'token'
    ? { kind: 'api' as const, userId: p.userId, name: `${name} (token ${p.tokenName ?? ''})`.slice(0, 200) }
    : { kind: 'user' as const, userId: p.userId, name };
}
