// The account page (API tokens made with the password, revoked) and the owners' invitations page,
// in Chromium against the real server and the built UI.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { launchChromium, openAccountMenu, PageWatch, seriousViolations, signIn } from './helpers/browser.ts';
import { testTaskType } from './helpers/test-types.ts';

// Like the other browser tests, this runs in the embedded-database pass only: the routes it drives
// are covered on both databases by test/credentials-lifetime.test.ts and test/invitations-lifetime.test.ts.
const EMBEDDED = !process.env.DATABASE_URL;
console.log(
  EMBEDDED
    ? 'UI account tests (Chromium): running in the embedded-database pass'
    : 'UI account tests (Chromium): not in this pass; they run in the embedded-database pass',
);

const UI_DIR = path.resolve(import.meta.dirname, '../web/dist');

let h: ApiHarness;
let base: string;
let browser: Browser;
let tenant: string;
let owner: TestUser;

describe.runIf(EMBEDDED)('account and invitations pages in Chromium', { timeout: 150_000 }, () => {
  beforeAll(async () => {
    if (!fs.existsSync(path.join(UI_DIR, 'index.html'))) {
      throw new Error('web/dist is missing: npm ci builds it (or npm run build:web)');
    }
    h = await startApiHarness({
      definitions: [testTaskType({ started: [], aborted: [] })],
      worker: false,
      http: {
        ui: { dir: UI_DIR },
        limits: { loginPerMinute: 1000, loginFailuresPerEmail: 1000, startsPerMinute: 10_000 },
      },
    });
    tenant = await h.ledger.createTenant('Accounts');
    owner = await h.user('owner', { [tenant]: 'owner' });
    base = await h.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('makes a read token with the password, shows its secret once, lists it and revokes it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const watch = new PageWatch(page);
    await signIn(page, watch, base, owner);
    await openAccountMenu(page, 'owner', 'Account and tokens', 'Account');
    expect(await seriousViolations(page)).toEqual([]);

    const form = page.getByRole('form', { name: 'New API token' });
    await form.getByLabel('Name').fill('ui made');
    // A wrong password makes nothing.
    await form.getByLabel('Your password').fill('not-the-password');
    await form.getByRole('button', { name: 'Create token' }).click();
    await page.getByText('the password is not correct').waitFor();
    await form.getByLabel('Your password').fill(owner.password);
    await form.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.locator('code').filter({ hasText: /^olt_/ }).textContent())!.trim();
    expect(secret).toMatch(/^olt_[0-9a-f]{32}_/);
    await page.getByRole('cell', { name: 'ui made', exact: true }).waitFor();

    // The token works, and reads only: it is read-scoped, as chosen by default.
    const headers = { authorization: `Bearer ${secret}` };
    expect((await h.app.inject({ url: '/api/v1/me', headers })).statusCode).toBe(200);
    const start = await h.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/operations`,
      headers,
      payload: { type: 'test.task', inputs: { key: 'ui' } },
    });
    expect(start.statusCode).toBe(403);

    await page.getByRole('button', { name: 'Revoke ui made' }).click();
    await page.getByRole('cell', { name: 'ui made', exact: true }).waitFor({ state: 'detached' });
    expect((await h.app.inject({ url: '/api/v1/me', headers })).statusCode).toBe(401);
    // The one refusal was the wrong password's.
    expect(watch.problems).toContain(`HTTP 403: POST ${base}/api/v1/me/tokens`);
    expect(watch.problems.filter((p) => !/403/.test(p))).toEqual([]);
    await context.close();
  });

  it('changes the password (other sessions end, the new one signs in), then signs out everywhere', async () => {
    const person = await h.user('changer', { [tenant]: 'operator' });
    const elsewhere = await h.session(person);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const watch = new PageWatch(page);
    await signIn(page, watch, base, person);
    await openAccountMenu(page, 'changer', 'Account and tokens', 'Account');

    const change = page.getByRole('form', { name: 'Change password' });
    const newPassword = 'a brand new passphrase 2';
    await change.getByLabel('Current password').fill(person.password);
    await change.getByLabel('New password (12 characters or more)').fill(newPassword);
    await change.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed').waitFor();
    // The other session and the person's token ended; this page's session goes on.
    expect((await h.app.inject({ url: '/api/v1/me', headers: elsewhere })).statusCode).toBe(401);
    expect((await h.app.inject({ url: '/api/v1/me', headers: h.bearer(person) })).statusCode).toBe(401);
    expect((await page.request.get(`${base}/api/v1/me`)).status()).toBe(200);
    const again = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: person.email, password: newPassword },
    });
    expect(again.statusCode).toBe(200);
    expect(await seriousViolations(page)).toEqual([]);

    const out = page.getByRole('form', { name: 'Sign out everywhere' });
    await out.getByLabel('Your password').fill(newPassword);
    await out.getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.waitForURL(/\/sign-in/);
    const cookie = String(again.headers['set-cookie']).split(';')[0]!;
    expect((await h.app.inject({ url: '/api/v1/me', headers: { cookie } })).statusCode).toBe(401);
    expect((await page.request.get(`${base}/api/v1/me`)).status()).toBe(401);
    expect(watch.problems.filter((p) => !p.includes('/api/v1/me'))).toEqual([]);
    await context.close();
  });

  it('an owner sees pending invitations with their sender and revokes one', async () => {
    const session = await h.session(owner);
    for (const email of ['first@example.test', 'second@example.test']) {
      const res = await h.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/members`,
        headers: session,
        payload: { email, role: 'viewer' },
      });
      expect(res.statusCode).toBe(202);
    }
    const context = await browser.newContext({ viewport: { width: 390, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const watch = new PageWatch(page);
    await signIn(page, watch, base, owner);
    await openAccountMenu(page, 'owner', 'Invitations', 'Invitations');
    await page.getByRole('cell', { name: 'second@example.test', exact: true }).waitFor();
    expect(await page.getByRole('cell', { name: owner.email.toLowerCase(), exact: true }).count()).toBe(2);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Revoke the invitation of first@example.test' }).click();
    await page.getByRole('cell', { name: 'first@example.test', exact: true }).waitFor({ state: 'detached' });
    const left = await h.app.inject({ url: `/api/v1/tenants/${tenant}/invitations`, headers: session });
    expect(left.json().data.map((i: { email: string }) => i.email)).toEqual(['second@example.test']);
    expect(watch.problems).toEqual([]);
    await context.close();
  });
});
