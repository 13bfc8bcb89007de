// Credentials with an end (issue 19): API tokens have a scope and an expiry, only a signed-in
// session that confirms the password can mint one, a password change or "sign out everywhere"
// ends every session and token the password let anyone make, and every revocation is announced.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialsRevoked } from '../src/access/revocation.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { CORPUS } from './helpers/secret-corpus.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
const revocations: CredentialsRevoked[] = [];
let h: ApiHarness;
let tenant: string;

const me = (headers: Record<string, string>) => h.app.inject({ url: '/api/v1/me', headers });
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

async function mint(
  user: TestUser,
  body: Record<string, unknown> = {},
  session?: Record<string, string>,
): Promise<{ id: string; secret: string; expiresAt: string; scope: string }> {
  const res = await h.app.inject({
    method: 'POST',
    url: '/api/v1/me/tokens',
    headers: session ?? (await h.session(user)),
    payload: { name: 'minted', password: user.password, ...body },
  });
  expect(res.statusCode, res.body).toBe(201);
  expect(res.headers['cache-control']).toBe('no-store');
  const { token, secret } = res.json();
  return { id: token.id, secret, expiresAt: token.expiresAt, scope: token.scope };
}

async function tokenRows(userId: string) {
  return h.ledger.database.db
    .selectFrom('api_tokens')
    .select(['id', 'revoked_at'])
    .where('user_id', '=', userId)
    .execute();
}

beforeAll(async () => {
  h = await startApiHarness({
    definitions: [testTaskType(log, { maxAttempts: 1 })],
    worker: false,
    env: { TOKEN_DEFAULT_DAYS: '30', TOKEN_MAX_DAYS: '60' },
    http: { onCredentialsRevoked: (e) => revocations.push(e) },
  });
  tenant = await h.ledger.createTenant('Lifetime');
});
afterAll(async () => {
  await h?.stop();
});

describe('minting tokens', () => {
  it('a token cannot mint a token, even with the password; a cookie without the password mints nothing', async () => {
    const user = await h.user('minter', { [tenant]: 'owner' });
    const before = await tokenRows(user.id);
    const byToken = await h.app.inject({
      method: 'POST',
      url: '/api/v1/me/tokens',
      headers: h.bearer(user),
      payload: { name: 'chain', password: user.password },
    });
    expect(byToken.statusCode).toBe(403);
    expect(byToken.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(byToken.json().detail).toMatch(/token cannot/);
    const session = await h.session(user);
    // A stolen cookie and CSRF token (GET /me hands out the latter) without the password.
    const noPassword = await h.app.inject({
      method: 'POST',
      url: '/api/v1/me/tokens',
      headers: session,
      payload: { name: 'chain' },
    });
    expect(noPassword.statusCode).toBe(400);
    const wrong = await h.app.inject({
      method: 'POST',
      url: '/api/v1/me/tokens',
      headers: session,
      payload: { name: 'chain', password: 'not-the-password' },
    });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().detail).toBe('the password is not correct');
    // The cookie without its CSRF header is refused before anything else.
    const noCsrf = await h.app.inject({
      method: 'POST',
      url: '/api/v1/me/tokens',
      headers: { cookie: session.cookie! },
      payload: { name: 'chain', password: user.password },
    });
    expect(noCsrf.statusCode).toBe(403);
    expect(await tokenRows(user.id)).toEqual(before);
    expect(h.ledger.logText()).not.toContain(user.password);
  });

  it('a session with the password mints a token with the default lifetime, within the maximum', async () => {
    const user = await h.user('lifetime', { [tenant]: 'operator' });
    const session = await h.session(user);
    const t0 = Date.now();
    const token = await mint(user, {}, session);
    expect(token.scope).toBe('operate');
    const days = (Date.parse(token.expiresAt) - t0) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
    expect((await me(bearer(token.secret))).json().user.id).toBe(user.id);
    const tooLong = await h.app.inject({
      method: 'POST',
      url: '/api/v1/me/tokens',
      headers: session,
      payload: { name: 'long', password: user.password, expiresInDays: 61 },
    });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json().errors).toEqual([{ path: '/expiresInDays', message: 'between 1 and 60' }]);
    const longest = await mint(user, { expiresInDays: 60 }, session);
    expect(Date.parse(longest.expiresAt) - t0).toBeGreaterThan(59.9 * 86_400_000);
    // The secret is never stored nor logged: only its hash is in the row.
    const rows = await sql`select t::text as t from api_tokens t where user_id = ${user.id}`.execute(
      h.ledger.database.db,
    );
    expect(JSON.stringify(rows.rows)).not.toContain(token.secret.slice(-43));
    expect(h.ledger.logText()).not.toContain(token.secret.slice(-43));
  });

  it('an expired token is refused with a clear problem and is no longer listed', async () => {
    const user = await h.user('expiring', { [tenant]: 'viewer' });
    const token = await mint(user);
    expect((await me(bearer(token.secret))).statusCode).toBe(200);
    await sql`update api_tokens set expires_at = now() - interval '1 second' where id = ${token.id}`.execute(
      h.ledger.database.db,
    );
    const refused = await me(bearer(token.secret));
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json().detail).toMatch(/expired/);
    const runs = await h.app.inject({
      url: `/api/v1/tenants/${tenant}/operations`,
      headers: bearer(token.secret),
    });
    expect(runs.statusCode).toBe(401);
    // A wrong secret for the same id learns nothing about expiry.
    const forged = await me(bearer(`${token.secret.slice(0, -1)}${token.secret.endsWith('A') ? 'B' : 'A'}`));
    expect(forged.json().detail).not.toMatch(/expired/);
    const list = await h.app.inject({ url: '/api/v1/me/tokens', headers: h.bearer(user) });
    expect(list.json().data.map((t: { id: string }) => t.id)).not.toContain(token.id);
  });
});

describe('token scope', () => {
  it('a read-scoped token reads but cannot start, cancel or retry a run, nor create a schedule (403, nothing made)', async () => {
    const user = await h.user('reader', { [tenant]: 'operator' });
    const read = await mint(user, { scope: 'read' });
    expect(read.scope).toBe('read');
    const ops = `/api/v1/tenants/${tenant}/operations`;
    expect((await h.app.inject({ url: ops, headers: bearer(read.secret) })).statusCode).toBe(200);
    const start = await h.app.inject({
      method: 'POST',
      url: ops,
      headers: bearer(read.secret),
      payload: { type: 'test.task', inputs: { key: 'read-scoped' } },
    });
    expect(start.statusCode).toBe(403);
    expect(start.json()).toMatchObject({ status: 403, title: 'Forbidden' });
    const made = await sql<{ n: number }>`
      select count(*)::int as n from operation_runs
      where tenant_id = ${tenant} and context->'inputs'->>'key' = 'read-scoped'`.execute(
      h.ledger.database.db,
    );
    expect(made.rows[0]!.n).toBe(0);
    // The same user's operate token starts it: the refusal was the scope, not the role.
    const started = await h.app.inject({
      method: 'POST',
      url: ops,
      headers: h.bearer(user),
      payload: { type: 'test.task', inputs: { key: 'operate-scoped' } },
    });
    expect(started.statusCode).toBe(202);
    const runId = started.json().run.id;
    for (const req of [
      { method: 'POST', url: `${ops}/${runId}/cancel` },
      { method: 'POST', url: `${ops}/${runId}/retry` },
      {
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/schedules`,
        payload: { name: 'nope', type: 'test.task', inputs: { key: 'r' }, cron: '0 2 * * *' },
      },
    ] as const) {
      const res = await h.app.inject({ ...req, headers: bearer(read.secret) });
      expect(res.statusCode, req.url).toBe(403);
    }
    expect((await h.ledger.service.get(tenant, runId)).status).toBe('queued');
    const schedules = await h.app.inject({
      url: `/api/v1/tenants/${tenant}/schedules`,
      headers: bearer(read.secret),
    });
    expect(schedules.json().data).toEqual([]);
  });

  it('role matrix with tokens: scope never lifts a role, and member management is never a token’s', async () => {
    const other = await h.ledger.createTenant('Elsewhere');
    const owner = await h.user('scope-owner', { [tenant]: 'owner' });
    const viewer = await h.user('scope-viewer', { [tenant]: 'viewer' });
    const stranger = await h.user('scope-stranger', { [other]: 'owner' });
    const start = (headers: Record<string, string>, key: string) =>
      h.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/operations`,
        headers,
        payload: { type: 'test.task', inputs: { key } },
      });
    const viewerOperate = await mint(viewer, { scope: 'operate' });
    expect((await start(bearer(viewerOperate.secret), 'viewer-operate')).statusCode).toBe(403);
    expect((await start(h.bearer(owner), 'owner-operate')).statusCode).toBe(202);
    // A non-member's token: the tenant does not exist for it, whatever its scope.
    expect((await start(h.bearer(stranger), 'stranger')).statusCode).toBe(404);
    // Owner-only routes: the owner's token (operate) is refused, the owner's session passes.
    const ownerSession = await h.session(owner);
    for (const [method, url, payload] of [
      ['GET', `/api/v1/tenants/${tenant}/members`, undefined],
      ['POST', `/api/v1/tenants/${tenant}/members`, { email: 'x@example.test', role: 'owner' }],
      ['GET', `/api/v1/tenants/${tenant}/invitations`, undefined],
      ['DELETE', `/api/v1/tenants/${tenant}/invitations/${randomUUID()}`, undefined],
      ['PATCH', `/api/v1/tenants/${tenant}/members/${viewer.id}`, { role: 'owner' }],
    ] as const) {
      const byToken = await h.app.inject({ method, url, headers: h.bearer(owner), payload });
      expect(byToken.statusCode, `${method} ${url} by token`).toBe(403);
      expect(byToken.json().detail).toMatch(/API token cannot manage members/);
    }
    const list = await h.app.inject({ url: `/api/v1/tenants/${tenant}/members`, headers: ownerSession });
    expect(list.statusCode).toBe(200);
    const viewerRow = list.json().data.find((m: { userId: string }) => m.userId === viewer.id);
    expect(viewerRow.role).toBe('viewer');
    // Nothing was invited by the refused token.
    const invitations = await h.app.inject({
      url: `/api/v1/tenants/${tenant}/invitations`,
      headers: ownerSession,
    });
    expect(invitations.json().data).toEqual([]);
  });
});

describe('the token list', () => {
  it('pages through every live token, past the old cap of 1,000, newest first', async () => {
    const user = await h.user('many');
    // Made earlier than the one minted below (ids are time-ordered, as the service makes them).
    const expiresAt = new Date(Date.now() + 86_400_000);
    await h.ledger.database.db
      .insertInto('api_tokens')
      .values(
        Array.from({ length: 1005 }, (_, i) => ({
          id: uuidv7(),
          user_id: user.id,
          name: `bulk ${i}`,
          secret_hash: '0'.repeat(64),
          scope: 'read' as const,
          expires_at: expiresAt,
        })),
      )
      .execute();
    const newest = await mint(user, { name: 'newest' });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/v1/me/tokens?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await h.app.inject({ url, headers: h.bearer(user) });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json();
      expect(page.data.length).toBeLessThanOrEqual(200);
      seen.push(...page.data.map((t: { id: string }) => t.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 20);
    // 1,005 bulk, the harness's own and the newest, each once.
    expect(seen).toHaveLength(1007);
    expect(new Set(seen).size).toBe(1007);
    expect(seen[0]).toBe(newest.id);
    expect(pages).toBe(6);
    const first = await h.app.inject({ url: '/api/v1/me/tokens?limit=1', headers: h.bearer(user) });
    expect(first.json().data[0]).toMatchObject({ id: newest.id, name: 'newest', scope: 'operate' });
    expect(first.json().data[0]).toHaveProperty('lastUsedAt');
    for (const bad of ['nope', Buffer.from('t1:not-a-uuid').toString('base64url'), 'x'.repeat(101)]) {
      const res = await h.app.inject({
        url: `/api/v1/me/tokens?cursor=${encodeURIComponent(bad)}`,
        headers: h.bearer(user),
      });
      expect(res.statusCode, bad).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    // Another user's list shows none of them.
    const other = await h.user('few');
    const theirs = await h.app.inject({ url: '/api/v1/me/tokens?limit=200', headers: h.bearer(other) });
    expect(theirs.json().data).toHaveLength(1);
    expect(theirs.json().nextCursor).toBeNull();
  });
});

describe('password change and sign out everywhere', () => {
  it('sign out everywhere ends every session and every token, the minted ones included', async () => {
    const user = await h.user('everywhere', { [tenant]: 'operator' });
    const minter = await h.session(user);
    const minted = await mint(user, {}, minter);
    const laptop = await h.session(user);
    const other = await h.user('bystander', { [tenant]: 'operator' });
    const otherSession = await h.session(other);
    // A token may not do it, nor a wrong password; neither ends anything.
    const byToken = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout-everywhere',
      headers: bearer(minted.secret),
      payload: { password: user.password },
    });
    expect(byToken.statusCode).toBe(403);
    const wrong = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout-everywhere',
      headers: laptop,
      payload: { password: 'not-the-password' },
    });
    expect(wrong.statusCode).toBe(403);
    for (const headers of [minter, laptop, bearer(minted.secret), h.bearer(user)]) {
      expect((await me(headers)).statusCode).toBe(200);
    }
    revocations.length = 0;
    const out = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout-everywhere',
      headers: laptop,
      payload: { password: user.password },
    });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/opsledger_session=;/);
    for (const headers of [minter, laptop, bearer(minted.secret), h.bearer(user)]) {
      expect((await me(headers)).statusCode).toBe(401);
    }
    // Someone else's session and tokens are untouched.
    expect((await me(otherSession)).statusCode).toBe(200);
    expect((await me(h.bearer(other))).statusCode).toBe(200);
    expect(revocations).toHaveLength(1);
    expect(revocations[0]).toMatchObject({ userId: user.id, reason: 'signed_out_everywhere' });
    expect(revocations[0]!.sessionIds).toHaveLength(2);
    expect(revocations[0]!.tokenIds.sort()).toEqual((await tokenRows(user.id)).map((r) => r.id).sort());
    expect((await tokenRows(user.id)).every((r) => r.revoked_at !== null)).toBe(true);
    // The password still signs in: it was not the password that was lost.
    expect((await me(await h.session(user))).statusCode).toBe(200);
  });

  it('a password change needs the old password, keeps this session and ends every other one and every token', async () => {
    const user = await h.user('changer', { [tenant]: 'operator' });
    const here = await h.session(user);
    const elsewhere = await h.session(user);
    const minted = await mint(user, {}, here);
    const change = (headers: Record<string, string>, payload: Record<string, unknown>) =>
      h.app.inject({ method: 'POST', url: '/api/v1/me/password', headers, payload });
    const fresh = `Summer2026!-${randomUUID()}`;

    expect((await change(here, { newPassword: fresh })).statusCode).toBe(400);
    const wrongOld = await change(here, { currentPassword: 'not-the-password', newPassword: fresh });
    expect(wrongOld.statusCode).toBe(403);
    const weak = await change(here, { currentPassword: user.password, newPassword: 'password1234' });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().errors[0].path).toBe('/newPassword');
    const byToken = await change(bearer(minted.secret), {
      currentPassword: user.password,
      newPassword: fresh,
    });
    expect(byToken.statusCode).toBe(403);
    // None of the refusals changed or ended anything.
    for (const headers of [here, elsewhere, bearer(minted.secret), h.bearer(user)]) {
      expect((await me(headers)).statusCode).toBe(200);
    }
    revocations.length = 0;
    const ok = await change(here, { currentPassword: user.password, newPassword: fresh });
    expect(ok.statusCode).toBe(204);
    expect((await me(here)).statusCode).toBe(200);
    for (const headers of [elsewhere, bearer(minted.secret), h.bearer(user)]) {
      expect((await me(headers)).statusCode).toBe(401);
    }
    expect(revocations).toMatchObject([{ userId: user.id, reason: 'password_changed' }]);
    const login = (password: string) =>
      h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password } });
    expect((await login(user.password)).statusCode).toBe(401);
    expect((await login(fresh)).statusCode).toBe(200);
    // The new password is nowhere in clear: not in the database, a log or a response.
    const dump = await sql`select p::text as p from user_passwords p`.execute(h.ledger.database.db);
    expect(JSON.stringify(dump.rows)).not.toContain(fresh);
    expect(h.ledger.logText()).not.toContain(fresh);
    expect(h.ledger.logText()).not.toContain(user.password);
    expect(ok.body + weak.body + wrongOld.body).not.toContain(fresh);
  });

  it('passwords from the secret corpus never reach the database, a log or a response', async () => {
    const user = await h.user('corpus');
    let current = user.password;
    const session = await h.session(user);
    const secrets = CORPUS.flatMap(([, s]) => s).filter((s) => s.length >= 6);
    for (const secret of secrets.slice(0, 4)) {
      const next = `${secret}-${randomUUID()}`;
      const res = await h.app.inject({
        method: 'POST',
        url: '/api/v1/me/password',
        headers: session,
        payload: { currentPassword: current, newPassword: next },
      });
      expect(res.statusCode, res.body).toBe(204);
      expect(res.body).not.toContain(secret);
      current = next;
    }
    const dump = await sql`select u::text as u from user_passwords u`.execute(h.ledger.database.db);
    const text = JSON.stringify(dump.rows) + h.ledger.logText();
    for (const secret of secrets.slice(0, 4)) expect(text).not.toContain(secret);
  });

  it('wrong password confirmations are limited per account (429 with Retry-After)', async () => {
    const limited = await startApiHarness({
      definitions: [testTaskType(log)],
      worker: false,
      http: {
        limits: {
          loginPerMinute: 1000,
          loginFailuresPerEmail: 3,
          startsPerMinute: 1000,
          requestsPerMinute: 100_000,
        },
      },
    });
    try {
      const user = await limited.user('guessed');
      const session = await limited.session(user);
      const guess = (password: string) =>
        limited.app.inject({
          method: 'POST',
          url: '/api/v1/me/tokens',
          headers: session,
          payload: { name: 'guess', password },
        });
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await guess(`guess-${i}`)).statusCode);
      expect(codes).toEqual([403, 403, 403]);
      const blocked = await guess(user.password);
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await limited.stop();
    }
  });
});
