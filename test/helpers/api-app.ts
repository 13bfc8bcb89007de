import type { Role } from '../../src/access/tables.ts';
import type { HttpApp } from '../../src/http/app.ts';
import type { OperationTypeDefinition } from '../../src/ledger/catalog.ts';
import { createHttpServer, type ServerOptions } from '../../src/main/http.ts';
import { startTestLedger, type TestLedger } from './ledger.ts';

export type TestUser = { id: string; email: string; password: string; token: string };

export type ApiHarness = {
  ledger: TestLedger;
  app: HttpApp;
  /** Creates a user with an API token (Bearer) and, optionally, memberships. */
  user(name: string, memberships?: Record<string, Role>): Promise<TestUser>;
  bearer(user: TestUser): Record<string, string>;
  /** Signs in by password; returns the cookie header and CSRF token. */
  login(user: TestUser): Promise<{ cookie: string; csrf: string }>;
  /**
   * Headers of a fresh signed-in session (cookie and CSRF token): what a person in the browser
   * sends. Managing members, invitations and credentials needs one; a token never may.
   */
  session(user: TestUser): Promise<Record<string, string>>;
  stop(): Promise<void>;
};

let counter = 0;

/** A real ledger (database, queue, worker) behind the real HTTP app, driven with app.inject. */
export async function startApiHarness(options: {
  definitions: OperationTypeDefinition[];
  worker?: boolean;
  http?: ServerOptions;
  env?: Record<string, string>;
  /** Wire the real restore-runs service (its routes exist only then). */
  withRestore?: boolean;
}): Promise<ApiHarness> {
  const ledger = await startTestLedger({
    definitions: options.definitions,
    worker: options.worker ?? true,
    env: options.env,
  });
  const app = await createHttpServer(ledger, {
    suite: options.withRestore ?? false,
    limits: {
      loginPerMinute: 1000,
      loginFailuresPerEmail: 1000,
      startsPerMinute: 100_000,
      requestsPerMinute: 1_000_000,
      expensiveReadsPerTenant: 1000,
    },
    ...options.http,
  });
  await app.ready();
  const harness: ApiHarness = {
    ledger,
    app,
    async user(name, memberships = {}) {
      counter += 1;
      const email = `${name}-${counter}-${process.pid}@example.test`;
      const password = `pw-${name}-${counter}-secret`;
      const u = await app.opsledger.access.createUser({ email, password, displayName: name });
      for (const [tenantId, role] of Object.entries(memberships)) {
        await app.opsledger.access.addMember(tenantId, email, role);
      }
      const { secret } = await app.opsledger.credentials.createToken(u.id, `${name} token`);
      return { id: u.id, email, password, token: secret };
    },
    bearer: (user) => ({ authorization: `Bearer ${user.token}` }),
    async login(user) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: user.password },
      });
      if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
      const setCookie = String(res.headers['set-cookie']);
      return { cookie: setCookie.split(';')[0]!, csrf: res.json().csrfToken };
    },
    async session(user) {
      const { cookie, csrf } = await harness.login(user);
      return { cookie, 'x-csrf-token': csrf };
    },
    async stop() {
      await app.close();
      await ledger.stop();
    },
  };
  return harness;
}
