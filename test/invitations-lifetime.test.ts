// Invitations with an end and an owner (issue 19): owners list and revoke pending invitations,
// invitations expire, and an invitation dies with its sender's ownership, so a removed owner's
// invitation to an alternate account can no longer bring them back.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialsRevoked } from '../src/access/revocation.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { testTaskType } from './helpers/test-types.ts';

const revocations: CredentialsRevoked[] = [];
let h: ApiHarness;

const members = (tenant: string) => `/api/v1/tenants/${tenant}/members`;
const invitations = (tenant: string) => `/api/v1/tenants/${tenant}/invitations`;

async function invite(tenant: string, headers: Record<string, string>, email: string, role = 'viewer') {
  const res = await h.app.inject({ method: 'POST', url: members(tenant), headers, payload: { email, role } });
  expect(res.statusCode, res.body).toBe(202);
  return res.json() as { id: string; expiresAt: string; createdAt: string };
}

const accept = (tenant: string, user: TestUser) =>
  h.app.inject({ method: 'POST', url: `/api/v1/me/invitations/${tenant}/accept`, headers: h.bearer(user) });

const roleIn = async (tenant: string, userId: string) => {
  const { rows } = await sql<{ role: string }>`
    select role from memberships where tenant_id = ${tenant} and user_id = ${userId}`.execute(
    h.ledger.database.db,
  );
  return rows[0]?.role ?? null;
};

beforeAll(async () => {
  h = await startApiHarness({
    definitions: [testTaskType({ started: [], aborted: [] })],
    worker: false,
    env: { INVITATION_DAYS: '3' },
    http: { onCredentialsRevoked: (e) => revocations.push(e) },
  });
});
afterAll(async () => {
  await h?.stop();
});

describe('pending invitations', () => {
  it('owners list and revoke them; operators, viewers and non-members cannot; a token never can', async () => {
    const tenant = await h.ledger.createTenant('Invites');
    const owner = await h.user('owner', { [tenant]: 'owner' });
    const operator = await h.user('operator', { [tenant]: 'operator' });
    const viewer = await h.user('viewer', { [tenant]: 'viewer' });
    const stranger = await h.user('stranger');
    const invitee = await h.user('invitee');
    const ownerSession = await h.session(owner);
    const t0 = Date.now();
    const sent = await invite(tenant, ownerSession, invitee.email, 'operator');
    // The installation's lifetime (INVITATION_DAYS=3 here).
    const days = (Date.parse(sent.expiresAt) - t0) / 86_400_000;
    expect(days).toBeGreaterThan(2.9);
    expect(days).toBeLessThan(3.1);
    const other = await invite(tenant, ownerSession, 'nobody-yet@example.test');

    const listed = await h.app.inject({ url: invitations(tenant), headers: ownerSession });
    expect(listed.statusCode).toBe(200);
    expect(listed.json().data).toEqual([
      expect.objectContaining({ id: other.id, email: 'nobody-yet@example.test', role: 'viewer' }),
      expect.objectContaining({
        id: sent.id,
        tenantId: tenant,
        email: invitee.email.toLowerCase(),
        role: 'operator',
        invitedBy: { userId: owner.id, email: owner.email },
        expiresAt: sent.expiresAt,
      }),
    ]);

    // The role matrix, by session and by token: only the owner's session passes.
    const callers: [string, Record<string, string>, number][] = [
      ['operator session', await h.session(operator), 403],
      ['viewer session', await h.session(viewer), 403],
      ['non-member session', await h.session(stranger), 404],
      ['owner token', h.bearer(owner), 403],
      ['operator token', h.bearer(operator), 403],
      ['viewer token', h.bearer(viewer), 403],
      ['non-member token', h.bearer(stranger), 404],
    ];
    for (const [who, headers, code] of callers) {
      const list = await h.app.inject({ url: invitations(tenant), headers });
      expect(list.statusCode, `${who} lists`).toBe(code);
      const revoke = await h.app.inject({
        method: 'DELETE',
        url: `${invitations(tenant)}/${sent.id}`,
        headers,
      });
      expect(revoke.statusCode, `${who} revokes`).toBe(code);
    }
    // Nobody but the owner moved anything.
    expect(
      (await h.app.inject({ url: invitations(tenant), headers: ownerSession })).json().data,
    ).toHaveLength(2);

    const revoked = await h.app.inject({
      method: 'DELETE',
      url: `${invitations(tenant)}/${sent.id}`,
      headers: ownerSession,
    });
    expect(revoked.statusCode).toBe(204);
    const again = await h.app.inject({
      method: 'DELETE',
      url: `${invitations(tenant)}/${sent.id}`,
      headers: ownerSession,
    });
    expect(again.statusCode).toBe(404);
    // Revoked is gone for the invitee too: not listed, and accepting is 404.
    const mine = await h.app.inject({ url: '/api/v1/me/invitations', headers: h.bearer(invitee) });
    expect(mine.json().data).toEqual([]);
    expect((await accept(tenant, invitee)).statusCode).toBe(404);
    expect(await roleIn(tenant, invitee.id)).toBeNull();
  });

  it("isolation: another tenant's invitation id is the same 404 as an unknown one, and is left alone", async () => {
    const a = await h.ledger.createTenant('A');
    const b = await h.ledger.createTenant('B');
    const alice = await h.user('alice', { [a]: 'owner' });
    const bob = await h.user('bob', { [b]: 'owner' });
    const aliceSession = await h.session(alice);
    const bobSession = await h.session(bob);
    const ofB = await invite(b, bobSession, 'someone@example.test', 'owner');
    const reference = await h.app.inject({
      method: 'DELETE',
      url: `${invitations(a)}/${randomUUID()}`,
      headers: aliceSession,
    });
    expect(reference.statusCode).toBe(404);
    for (const url of [`${invitations(a)}/${ofB.id}`, `${invitations(b)}/${ofB.id}`]) {
      const res = await h.app.inject({ method: 'DELETE', url, headers: aliceSession });
      expect(res.statusCode, url).toBe(404);
      expect(res.body, url).toBe(reference.body);
    }
    const listB = await h.app.inject({ url: invitations(b), headers: aliceSession });
    expect(listB.statusCode).toBe(404);
    expect(listB.body).toBe(reference.body);
    const listA = await h.app.inject({ url: invitations(a), headers: aliceSession });
    expect(listA.json().data).toEqual([]);
    const stillThere = await h.app.inject({ url: invitations(b), headers: bobSession });
    expect(stillThere.json().data.map((i: { id: string }) => i.id)).toEqual([ofB.id]);
    for (const bad of ['not-a-uuid', '..%2F..%2Fmembers']) {
      const res = await h.app.inject({
        method: 'DELETE',
        url: `${invitations(a)}/${bad}`,
        headers: aliceSession,
      });
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
    }
  });
});

describe('the end of an invitation', () => {
  it('an expired invitation is refused with a clear problem, and the invitee does not join', async () => {
    const tenant = await h.ledger.createTenant('Expiry');
    const owner = await h.user('owner', { [tenant]: 'owner' });
    const late = await h.user('late');
    const ownerSession = await h.session(owner);
    const sent = await invite(tenant, ownerSession, late.email, 'owner');
    await sql`update invitations set expires_at = now() - interval '1 second' where id = ${sent.id}`.execute(
      h.ledger.database.db,
    );
    // Neither the owner's list nor the invitee's shows it any more.
    expect((await h.app.inject({ url: invitations(tenant), headers: ownerSession })).json().data).toEqual([]);
    expect(
      (await h.app.inject({ url: '/api/v1/me/invitations', headers: h.bearer(late) })).json().data,
    ).toEqual([]);
    const refused = await accept(tenant, late);
    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json().detail).toMatch(/expired/);
    expect(await roleIn(tenant, late.id)).toBeNull();
    // Used up: a second try finds nothing, and a new invitation works.
    expect((await accept(tenant, late)).statusCode).toBe(404);
    await invite(tenant, ownerSession, late.email, 'viewer');
    expect((await accept(tenant, late)).statusCode).toBe(200);
    expect(await roleIn(tenant, late.id)).toBe('viewer');
  });

  it("a removed owner's invitation is void: the alternate account cannot bring them back", async () => {
    const tenant = await h.ledger.createTenant('Takeover');
    const founder = await h.user('founder', { [tenant]: 'owner' });
    const rogue = await h.user('rogue', { [tenant]: 'owner' });
    const alternate = await h.user('alternate');
    const rogueSession = await h.session(rogue);
    const founderSession = await h.session(founder);
    const planted = await invite(tenant, rogueSession, alternate.email, 'owner');
    const kept = await invite(tenant, founderSession, 'colleague@example.test', 'viewer');
    revocations.length = 0;
    const removed = await h.app.inject({
      method: 'DELETE',
      url: `${members(tenant)}/${rogue.id}`,
      headers: founderSession,
    });
    expect(removed.statusCode).toBe(204);
    expect(revocations).toEqual([
      { userId: rogue.id, tenantId: tenant, sessionIds: [], tokenIds: [], reason: 'member_removed' },
    ]);
    const pending = await h.app.inject({ url: invitations(tenant), headers: founderSession });
    expect(pending.json().data.map((i: { id: string }) => i.id)).toEqual([kept.id]);
    const waiting = await h.app.inject({ url: '/api/v1/me/invitations', headers: h.bearer(alternate) });
    expect(waiting.json().data).toEqual([]);
    expect((await accept(tenant, alternate)).statusCode).toBe(404);
    expect(await roleIn(tenant, alternate.id)).toBeNull();
    expect(planted.id).not.toBe(kept.id);
  });

  it("a demoted owner's invitations end too, and one whose sender lost ownership is never honoured", async () => {
    const tenant = await h.ledger.createTenant('Demotion');
    const founder = await h.user('founder', { [tenant]: 'owner' });
    const second = await h.user('second', { [tenant]: 'owner' });
    const friend = await h.user('friend');
    const founderSession = await h.session(founder);
    await invite(tenant, await h.session(second), friend.email, 'owner');
    const demote = await h.app.inject({
      method: 'PATCH',
      url: `${members(tenant)}/${second.id}`,
      headers: founderSession,
      payload: { role: 'operator' },
    });
    expect(demote.statusCode).toBe(200);
    expect((await h.app.inject({ url: invitations(tenant), headers: founderSession })).json().data).toEqual(
      [],
    );
    expect((await accept(tenant, friend)).statusCode).toBe(404);
    // Belt and braces: even a row whose sender is no longer an owner (written behind the
    // service's back) is refused at acceptance.
    await sql`
      insert into invitations (id, tenant_id, email, role, invited_by, expires_at)
      values (${randomUUID()}, ${tenant}, ${friend.email.toLowerCase()}, 'owner', ${second.id}, now() + interval '1 day')`.execute(
      h.ledger.database.db,
    );
    expect((await accept(tenant, friend)).statusCode).toBe(404);
    expect(await roleIn(tenant, friend.id)).toBeNull();
  });
});
