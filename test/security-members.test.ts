import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { testTaskType } from './helpers/test-types.ts';

let h: ApiHarness;
let tenant: string;
let owner: TestUser;
let stranger: TestUser;
let ownerSession: Record<string, string>;

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType({ started: [], aborted: [] })], worker: false });
  tenant = await h.ledger.createTenant('Probe');
  owner = await h.user('owner', { [tenant]: 'owner' });
  stranger = await h.user('stranger');
  ownerSession = await h.session(owner);
});
afterAll(async () => {
  await h?.stop();
});

const invite = (email: string) =>
  h.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenant}/members`,
    headers: ownerSession,
    payload: { email, role: 'viewer' },
  });

it('answers an owner identically whether or not an email belongs to an account, and adds no one', async () => {
  const known = await invite(stranger.email);
  const unknown = await invite('no-account-here@example.test');
  const member = await invite(owner.email);
  expect([known.statusCode, unknown.statusCode, member.statusCode]).toEqual([202, 202, 202]);
  const shape = (r: typeof known) => {
    // Each invitation has its own id and times; everything else must be alike.
    const { email: _email, createdAt: _at, id: _id, expiresAt: _exp, ...rest } = r.json();
    return { keys: Object.keys(r.json()).sort(), rest, headers: r.headers['content-type'] };
  };
  expect(shape(known)).toEqual(shape(unknown));
  expect(shape(member)).toEqual(shape(unknown));
  // Neither the id nor the name of the existing account is in the answer.
  expect(known.body).not.toContain(stranger.id);
  expect(known.json()).not.toHaveProperty('displayName');
  // The account was not added: the tenant's members are unchanged, and the stranger sees nothing of it.
  const members = await h.app.inject({ url: `/api/v1/tenants/${tenant}/members`, headers: ownerSession });
  expect(members.json().data.map((m: { userId: string }) => m.userId)).toEqual([owner.id]);
  const list = await h.app.inject({
    url: `/api/v1/tenants/${tenant}/operations`,
    headers: h.bearer(stranger),
  });
  expect(list.statusCode).toBe(404);
  // Declining uses the invitation up; it cannot then be accepted.
  const decline = await h.app.inject({
    method: 'DELETE',
    url: `/api/v1/me/invitations/${tenant}`,
    headers: h.bearer(stranger),
  });
  expect(decline.statusCode).toBe(204);
  const accept = await h.app.inject({
    method: 'POST',
    url: `/api/v1/me/invitations/${tenant}/accept`,
    headers: h.bearer(stranger),
  });
  expect(accept.statusCode).toBe(404);
});
