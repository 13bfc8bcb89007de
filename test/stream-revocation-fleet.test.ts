import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialService } from '../src/access/credentials.ts';
import { AccessService } from '../src/access/service.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { deriveKey, loadRootKey } from '../src/shared/secret-key.ts';
import { startServe, useCliTarget } from './helpers/api-cli.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import { openStream, until } from './helpers/sse.ts';
import { onPostgres } from './helpers/target.ts';

// Issue 19: a token revoked (or a member removed) through another server process left open
// streams delivering runs for about 15 s. The end now travels on its own NOTIFY channel, naming
// nothing, and every process re-checks its open streams at once. Two `serve` processes share one
// PostgreSQL database, so this runs in the PostgreSQL pass only.
if (!onPostgres())
  console.log(
    '[stream-revocation-fleet] skipped: two server processes need PostgreSQL (PostgreSQL pass only)',
  );

const BUDGET_MS = 1000 * Number(process.env.TEST_TIME_SCALE ?? 1);

describe.runIf(onPostgres())('revocation ends streams in every process', () => {
  const target = useCliTarget();
  let a: Awaited<ReturnType<typeof startServe>>;
  let b: Awaited<ReturnType<typeof startServe>>;
  let database: Database;
  let tenant: string;
  let owner: { id: string; token: string };
  let member: { id: string; tokens: { id: string; secret: string }[] };

  beforeAll(async () => {
    const env = { ...target.env, SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'warn' };
    [a, b] = await Promise.all([startServe(env), startServe(env)]);
    database = await openDatabase({ kind: 'postgres', url: target.env.DATABASE_URL! });
    const access = new AccessService({ database });
    const rootKey = loadRootKey({ secretKey: TEST_SECRET_KEY, dataDir: target.env.DATA_DIR! });
    const credentials = new CredentialService({ database, csrfKey: deriveKey(rootKey, 'session') });
    tenant = (await access.createTenant('Fleet streams')).id;
    const o = await access.createUser({
      email: 'fleet-owner@example.test',
      password: 'fleet owner passphrase 1',
    });
    await access.addMember(tenant, o.email, 'owner');
    owner = { id: o.id, token: (await credentials.createToken(o.id, 'owner')).secret };
    const m = await access.createUser({
      email: 'fleet-member@example.test',
      password: 'fleet member passphrase 1',
    });
    await access.addMember(tenant, m.email, 'viewer');
    const tokens = [];
    for (const name of ['streaming', 'managing', 'second stream']) {
      const t = await credentials.createToken(m.id, name);
      tokens.push({ id: t.token.id, secret: t.secret });
    }
    member = { id: m.id, tokens };
  }, 240_000);

  afterAll(async () => {
    await database?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  /** Opens a stream on process A and waits until it is connected. */
  async function streamOnA(token: string) {
    const s = openStream(`${a.url}/api/v1/tenants/${tenant}/operations/stream`, token);
    expect((await s.ready).status).toBe(200);
    await until(
      () => s.received.some((m) => 'comment' in m && m.comment === 'connected'),
      30_000,
      'connected',
    );
    return s;
  }

  it('a token revoked through process B ends its stream on process A within a second', async () => {
    const s = await streamOnA(member.tokens[0]!.secret);
    const res = await fetch(`${b.url}/api/v1/me/tokens/${member.tokens[0]!.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${member.tokens[1]!.secret}` },
    });
    expect(res.status).toBe(204);
    const revoked = performance.now();
    await until(() => s.state.ended, 30_000, 'the stream to end');
    const ms = performance.now() - revoked;
    console.log(`[stream-revocation-fleet] token revoked on B, stream on A ended after ${Math.round(ms)} ms`);
    expect(ms).toBeLessThan(BUDGET_MS);
  });

  it('a member removed through process B loses their stream on process A within a second', async () => {
    const s = await streamOnA(member.tokens[2]!.secret);
    // Members are managed by an owner signed in (never by a token): sign in on B.
    const login = await fetch(`${b.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'fleet-owner@example.test', password: 'fleet owner passphrase 1' }),
    });
    expect(login.status).toBe(200);
    const cookie = String(login.headers.get('set-cookie')).split(';')[0]!;
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const res = await fetch(`${b.url}/api/v1/tenants/${tenant}/members/${member.id}`, {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': csrfToken },
    });
    expect(res.status).toBe(204);
    const removed = performance.now();
    await until(() => s.state.ended, 30_000, 'the stream to end');
    const ms = performance.now() - removed;
    console.log(
      `[stream-revocation-fleet] member removed on B, stream on A ended after ${Math.round(ms)} ms`,
    );
    expect(ms).toBeLessThan(BUDGET_MS);
  });

  it('sends nothing on the channel that names a tenant, user, token or session', async () => {
    // What any login listening on the channel would have seen of the two changes above.
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: target.env.DATABASE_URL! });
    await client.connect();
    const payloads: string[] = [];
    client.on('notification', (n) => payloads.push(n.payload ?? ''));
    await client.query('LISTEN opsledger_access');
    const access = new AccessService({ database });
    const m = await access.createUser({
      email: 'fleet-other@example.test',
      password: 'fleet other passphrase 1',
    });
    await access.addMember(tenant, m.email, 'viewer');
    await access.removeMember(tenant, m.id);
    await until(() => payloads.length > 0, 10_000, 'a notice');
    await client.end();
    for (const p of payloads) {
      expect(p).toMatch(/^[0-9a-f]{32}$/);
      for (const secret of [tenant, m.id, owner.id, member.id])
        expect(p).not.toContain(secret.replaceAll('-', ''));
    }
  });
});
