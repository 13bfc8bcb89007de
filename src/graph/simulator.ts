// A small Microsoft Graph look-alike on loopback: client-credentials tokens,
// seeded Intune policy collections with @odata.nextLink paging, CRUD, and
// injectable throttling/failures. Backs the demo and the tests.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { POLICY_FAMILIES, type PolicyFamily } from './families.ts';
import {
  deterministicSecret,
  type GraphPolicy,
  newTenant,
  type SimTenant,
  storeFor,
} from './simulator-data.ts';
import {
  decodeSkipToken,
  encodeSkipToken,
  graphError,
  HttpFailure,
  readBody,
  readJsonObject,
  sendJson,
} from './simulator-http.ts';

export { deterministicSecret, type GraphPolicy } from './simulator-data.ts';

export type SimulatorFault =
  | { kind: 'throttle'; status?: 429 | 503; retryAfterSeconds?: number; times?: number; onPage?: number }
  | { kind: 'error'; status: 500 | 502 | 403 | 404; times?: number; onPage?: number }
  | { kind: 'slow'; delayMs: number; times?: number }
  | { kind: 'malformed'; times?: number; onPage?: number };

export type FaultTarget = PolicyFamily | '*' | 'token';

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  /** Known once the request is tied to a tenant (token path or bearer token). */
  directoryId?: string;
}

export interface GraphSimulatorOptions {
  seed?: number;
  defaultPolicyCount?: number;
  pageSize?: number;
  /** Accept unknown tenants whose secret is deterministicSecret(autoRegisterKey, directoryId). */
  autoRegisterKey?: Buffer;
  requestLogLimit?: number;
  now?: () => number;
}

export interface RegisterTenantOptions {
  clientId: string;
  clientSecret: string;
  policyCounts?: Partial<Record<PolicyFamily, number>>;
}

export interface GraphSimulator {
  readonly url: string;
  readonly requestLog: RequestLogEntry[];
  start(port?: number, host?: string): Promise<string>;
  stop(): Promise<void>;
  registerTenant(directoryId: string, opts: RegisterTenantOptions): void;
  listPolicies(directoryId: string, family: PolicyFamily): GraphPolicy[];
  setPolicies(directoryId: string, family: PolicyFamily, policies: Record<string, unknown>[]): GraphPolicy[];
  addPolicy(directoryId: string, family: PolicyFamily, policy: Record<string, unknown>): GraphPolicy;
  updatePolicy(
    directoryId: string,
    family: PolicyFamily,
    id: string,
    patch: Record<string, unknown>,
  ): GraphPolicy;
  deletePolicy(directoryId: string, family: PolicyFamily, id: string): boolean;
  injectFault(directoryId: string, target: FaultTarget, fault: SimulatorFault): () => void;
  clearFaults(directoryId?: string): void;
  /** Invalidates issued tokens, e.g. to exercise a client's refresh-on-401. */
  revokeTokens(directoryId?: string): void;
}

interface ActiveFault {
  directoryId: string;
  target: FaultTarget;
  fault: SimulatorFault;
  remaining: number;
}

interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  entry: RequestLogEntry;
}

const TOKEN_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;
const TOKEN_LIFETIME_S = 3600;
const MAX_TOP = 999;
const COLLECTIONS = new Map<string, PolicyFamily>(POLICY_FAMILIES.map((f) => [f.path, f.family]));

export function createGraphSimulator(opts: GraphSimulatorOptions = {}): GraphSimulator {
  const seed = opts.seed ?? 1;
  const defaultCount = opts.defaultPolicyCount ?? 25;
  const pageSize = opts.pageSize ?? 100;
  const logLimit = opts.requestLogLimit ?? 5000;
  const now = opts.now ?? Date.now;
  const tenants = new Map<string, SimTenant>();
  const tokens = new Map<string, { directoryId: string; expiresAt: number }>();
  let faults: ActiveFault[] = [];
  const requestLog: RequestLogEntry[] = [];
  const pendingDelays = new Set<() => void>();
  let server: Server | undefined;
  let baseUrl: string | undefined;

  function tenantOrThrow(directoryId: string): SimTenant {
    const t = tenants.get(directoryId);
    if (!t) throw new Error(`simulator: tenant ${directoryId} is not registered`);
    return t;
  }

  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pendingDelays.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      pendingDelays.add(done);
    });
  }

  function consume(f: ActiveFault): void {
    f.remaining--;
    if (f.remaining <= 0) faults = faults.filter((x) => x !== f);
  }

  /** Applies matching faults; returns true when a fault produced the response. */
  async function applyFaults(
    ctx: RouteContext,
    directoryId: string,
    targets: FaultTarget[],
    page: number | undefined,
  ): Promise<boolean> {
    const matching = faults.filter((f) => f.directoryId === directoryId && targets.includes(f.target));
    for (const f of matching) {
      if (f.fault.kind !== 'slow') continue;
      consume(f);
      await delay(f.fault.delayMs);
    }
    for (const f of matching) {
      const fault = f.fault;
      if (fault.kind === 'slow' || f.remaining <= 0) continue;
      if (fault.onPage !== undefined && fault.onPage !== page) continue;
      consume(f);
      if (fault.kind === 'throttle') {
        const status = fault.status ?? 429;
        const headers: Record<string, string> =
          fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
        const code = status === 429 ? 'TooManyRequests' : 'ServiceUnavailable';
        graphError(ctx.res, status, code, 'Simulated throttling', headers);
      } else if (fault.kind === 'error') {
        const codes = {
          403: 'Forbidden',
          404: 'ResourceNotFound',
          500: 'InternalServerError',
          502: 'BadGateway',
        };
        graphError(ctx.res, fault.status, codes[fault.status], 'Simulated failure');
      } else if (!ctx.res.headersSent && !ctx.res.destroyed) {
        ctx.res.writeHead(200, { 'content-type': 'application/json' });
        ctx.res.end('{"value":[{"id":"truncat');
      }
      return true;
    }
    return false;
  }

  async function handleToken(ctx: RouteContext, directoryId: string): Promise<void> {
    if (ctx.req.method !== 'POST') throw new HttpFailure(405, 'MethodNotAllowed', 'Use POST');
    const form = new URLSearchParams(await readBody(ctx.req));
    if (await applyFaults(ctx, directoryId, ['token'], undefined)) return;
    const oauthError = (status: number, error: string, description: string) =>
      sendJson(ctx.res, status, { error, error_description: description });
    if (form.get('grant_type') !== 'client_credentials') {
      return oauthError(400, 'unsupported_grant_type', 'Only client_credentials is supported');
    }
    const secret = form.get('client_secret') ?? '';
    let tenant = tenants.get(directoryId);
    if (
      !tenant &&
      opts.autoRegisterKey &&
      secretEquals(secret, deterministicSecret(opts.autoRegisterKey, directoryId))
    ) {
      tenant = newTenant(directoryId, undefined, secret, defaultCount);
      tenants.set(directoryId, tenant);
    }
    if (!tenant) {
      // With auto-registration any tenant "exists", so a miss can only mean bad credentials.
      if (opts.autoRegisterKey)
        return oauthError(401, 'invalid_client', 'Invalid client id or client secret provided');
      return oauthError(400, 'invalid_request', `Tenant '${directoryId}' not found`);
    }
    const clientOk = tenant.clientId === undefined || tenant.clientId === form.get('client_id');
    // Deliberately does not echo anything from the request: secrets must not bounce back into logs.
    if (!clientOk || !secretEquals(secret, tenant.clientSecret)) {
      return oauthError(401, 'invalid_client', 'Invalid client id or client secret provided');
    }
    ctx.entry.directoryId = directoryId;
    const token = randomBytes(32).toString('base64url');
    tokens.set(token, { directoryId, expiresAt: now() + TOKEN_LIFETIME_S * 1000 });
    sendJson(ctx.res, 200, {
      token_type: 'Bearer',
      expires_in: TOKEN_LIFETIME_S,
      ext_expires_in: TOKEN_LIFETIME_S,
      access_token: token,
    });
  }

  function authenticate(req: IncomingMessage): SimTenant {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const issued = m ? tokens.get(m[1]!) : undefined;
    if (!issued || issued.expiresAt <= now()) {
      throw new HttpFailure(401, 'InvalidAuthenticationToken', 'Access token is missing, invalid or expired');
    }
    const tenant = tenants.get(issued.directoryId);
    if (!tenant) throw new HttpFailure(401, 'InvalidAuthenticationToken', 'Token tenant no longer exists');
    return tenant;
  }

  async function handleResource(ctx: RouteContext, resourcePath: string): Promise<void> {
    const { req, res, url } = ctx;
    let family = COLLECTIONS.get(resourcePath);
    let itemId: string | undefined;
    if (!family) {
      const slash = resourcePath.lastIndexOf('/');
      family = COLLECTIONS.get(resourcePath.slice(0, slash));
      itemId = decodeURIComponent(resourcePath.slice(slash + 1));
    }
    if (!family || itemId === '') throw new HttpFailure(404, 'ResourceNotFound', 'Resource not found');
    const tenant = authenticate(req);
    ctx.entry.directoryId = tenant.directoryId;
    const store = storeFor(tenant, family, seed);
    const method = req.method ?? 'GET';

    if (itemId === undefined && method === 'GET') {
      const skip = url.searchParams.get('$skiptoken');
      const cursor = skip === null ? { page: 0, lastSeq: 0 } : decodeSkipToken(skip);
      const topParam = url.searchParams.get('$top');
      const top = topParam === null ? pageSize : Number(topParam);
      if (!Number.isInteger(top) || top < 1 || top > MAX_TOP) {
        throw new HttpFailure(400, 'BadRequest', `$top must be an integer between 1 and ${MAX_TOP}`);
      }
      if (await applyFaults(ctx, tenant.directoryId, [family, '*'], cursor.page)) return;
      const page = store.page(cursor.lastSeq, top);
      const origin = req.headers.host ? `http://${req.headers.host}` : baseUrl;
      const collectionUrl = `${origin}/v1.0${resourcePath}`;
      const body: Record<string, unknown> = {
        '@odata.context': `${origin}/v1.0/$metadata#${resourcePath.slice(1)}`,
        value: page.items,
      };
      if (page.hasMore) {
        const topPart = topParam === null ? '' : `$top=${top}&`;
        body['@odata.nextLink'] =
          `${collectionUrl}?${topPart}$skiptoken=${encodeSkipToken(cursor.page + 1, page.lastSeq)}`;
      }
      return sendJson(res, 200, body);
    }

    if (await applyFaults(ctx, tenant.directoryId, [family, '*'], undefined)) return;
    const at = new Date(now());
    if (itemId === undefined) {
      if (method !== 'POST') throw new HttpFailure(405, 'MethodNotAllowed', `${method} not allowed here`);
      return sendJson(res, 201, store.create(await readJsonObject(req), at));
    }
    const notFound = () => new HttpFailure(404, 'ResourceNotFound', `No ${family} item with id '${itemId}'`);
    if (method === 'GET') {
      const item = store.get(itemId);
      if (!item) throw notFound();
      return sendJson(res, 200, item);
    }
    if (method === 'PATCH') {
      if (!store.update(itemId, await readJsonObject(req), at)) throw notFound();
      return sendJson(res, 204);
    }
    if (method === 'DELETE') {
      if (!store.delete(itemId)) throw notFound();
      return sendJson(res, 204);
    }
    throw new HttpFailure(405, 'MethodNotAllowed', `${method} not allowed here`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const entry: RequestLogEntry = { method: req.method ?? 'GET', path: url.pathname, status: 0 };
    res.on('finish', () => {
      entry.status = res.statusCode;
      requestLog.push(entry);
      if (requestLog.length > logLimit) requestLog.splice(0, requestLog.length - logLimit);
    });
    const ctx: RouteContext = { req, res, url, entry };
    try {
      const tokenMatch = TOKEN_PATH.exec(url.pathname);
      if (tokenMatch) return await handleToken(ctx, decodeURIComponent(tokenMatch[1]!));
      if (url.pathname.startsWith('/v1.0/'))
        return await handleResource(ctx, url.pathname.slice('/v1.0'.length));
      throw new HttpFailure(404, 'ResourceNotFound', 'Unknown endpoint');
    } catch (err) {
      if (err instanceof HttpFailure) return graphError(res, err.status, err.code, err.message);
      graphError(res, 500, 'InternalServerError', 'Simulator error');
    }
  }

  function tenantStore(directoryId: string, family: PolicyFamily) {
    return storeFor(tenantOrThrow(directoryId), family, seed);
  }

  return {
    get url(): string {
      if (!baseUrl) throw new Error('simulator: not started');
      return baseUrl;
    },
    requestLog,

    async start(port = 0, host = '127.0.0.1'): Promise<string> {
      if (server) throw new Error('simulator: already started');
      const s = createServer((req, res) => void handle(req, res));
      server = s;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      const addr = s.address() as AddressInfo;
      const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      baseUrl = `http://${hostPart}:${addr.port}`;
      return baseUrl;
    },

    async stop(): Promise<void> {
      const s = server;
      if (!s) return;
      server = undefined;
      for (const release of [...pendingDelays]) release();
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      // Keep-alive sockets from fetch would otherwise hold close() open.
      s.closeAllConnections();
      await closed;
    },

    registerTenant(directoryId, { clientId, clientSecret, policyCounts }) {
      tenants.set(directoryId, newTenant(directoryId, clientId, clientSecret, defaultCount, policyCounts));
      for (const [token, t] of tokens) if (t.directoryId === directoryId) tokens.delete(token);
    },

    listPolicies: (directoryId, family) => tenantStore(directoryId, family).all(),

    setPolicies(directoryId, family, policies) {
      const tenant = tenantOrThrow(directoryId);
      tenant.counts[family] = 0;
      tenant.stores.delete(family);
      const store = storeFor(tenant, family, seed);
      const at = new Date(now());
      return policies.map((p) => store.insert(p, at));
    },

    addPolicy: (directoryId, family, policy) =>
      tenantStore(directoryId, family).insert(policy, new Date(now())),

    updatePolicy(directoryId, family, id, patch) {
      const updated = tenantStore(directoryId, family).update(id, patch, new Date(now()));
      if (!updated) throw new Error(`simulator: no ${family} policy ${id} in ${directoryId}`);
      return updated;
    },

    deletePolicy: (directoryId, family, id) => tenantStore(directoryId, family).delete(id),

    injectFault(directoryId, target, fault) {
      const active: ActiveFault = {
        directoryId,
        target,
        fault,
        remaining: fault.times ?? Number.POSITIVE_INFINITY,
      };
      faults.push(active);
      return () => {
        faults = faults.filter((f) => f !== active);
      };
    },

    clearFaults(directoryId) {
      faults = directoryId === undefined ? [] : faults.filter((f) => f.directoryId !== directoryId);
    },

    revokeTokens(directoryId) {
      for (const [token, t] of tokens)
        if (directoryId === undefined || t.directoryId === directoryId) tokens.delete(token);
    },
  };
}

/** Constant-time comparison of two secrets of any length (their digests are compared). */
function secretEquals(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
