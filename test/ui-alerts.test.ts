// The alerts page in Chromium against the real server, the built UI and the real worker: an owner
// adds a webhook target (its secret shown once), sends a test that a local receiver gets signed,
// reads the delivery log, edits the rules, pauses and deletes the target; a viewer sees the page
// read-only with the reason. Axe on every state visited; no console error or failed request.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../src/alerts/signature.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { launchChromium, openAccountMenu, PageWatch, seriousViolations, signIn } from './helpers/browser.ts';
import { testTaskType } from './helpers/test-types.ts';
import { timeBudget } from './helpers/time.ts';

// Like the other browser tests, this runs in the embedded-database pass only: the routes it drives
// are covered on both databases by test/alerts-webhooks.test.ts.
const EMBEDDED = !process.env.DATABASE_URL;
console.log(
  EMBEDDED
    ? 'UI alerts tests (Chromium): running in the embedded-database pass'
    : 'UI alerts tests (Chromium): not in this pass; they run in the embedded-database pass',
);

const UI_DIR = path.resolve(import.meta.dirname, '../web/dist');
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.resolve(import.meta.dirname, '../docs/screenshots')
  : null;
const PATH_SECRET = 'T0KEN-IN-PATH-7731';

type Received = { headers: http.IncomingHttpHeaders; body: string };

/** A webhook receiver on the loopback address: records every request; answers 503 under /down/, else 200. */
async function receiver() {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const down = req.url?.startsWith('/down/');
      res.writeHead(down ? 503 : 200, { 'content-type': 'text/plain' });
      res.end(down ? 'maintenance' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    received,
    url: `http://127.0.0.1:${port}/hooks/${PATH_SECRET}`,
    down: `http://127.0.0.1:${port}/down/pager`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let h: ApiHarness;
let rx: Awaited<ReturnType<typeof receiver>>;
let base: string;
let browser: Browser;
let tenant: string;
let owner: TestUser;
let viewer: TestUser;

/** Axe on the page once its transitions (a dialog fading in) have ended: colours are then final. */
async function axeClean(page: Page, state: string) {
  await page.evaluate(
    `Promise.all(document.getAnimations().filter((a) => a.effect?.getTiming().iterations !== Infinity).map((a) => a.finished.catch(() => null)))`,
  );
  expect({ state, violations: await seriousViolations(page) }).toEqual({ state, violations: [] });
}

const targets = async () =>
  (await h.app.inject({ url: `/api/v1/tenants/${tenant}/alert-targets`, headers: h.bearer(owner) })).json()
    .data as {
    id: string;
    name: string;
    enabled: boolean;
    outcomes: string[];
    longerThanMinutes: number | null;
  }[];

describe.runIf(EMBEDDED)('the alerts page in Chromium', { timeout: timeBudget(240_000) }, () => {
  beforeAll(async () => {
    if (!fs.existsSync(path.join(UI_DIR, 'index.html'))) {
      throw new Error('web/dist is missing: npm ci builds it (or npm run build:web)');
    }
    rx = await receiver();
    h = await startApiHarness({
      definitions: [testTaskType({ started: [], aborted: [] })],
      // The receiver is on this machine: the installation allows loopback targets.
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SECONDS: '1' },
      http: {
        ui: { dir: UI_DIR },
        limits: { loginPerMinute: 1000, loginFailuresPerEmail: 1000, startsPerMinute: 10_000 },
      },
    });
    tenant = await h.ledger.createTenant('Alerting');
    owner = await h.user('owner', { [tenant]: 'owner' });
    viewer = await h.user('viewer', { [tenant]: 'viewer' });
    base = await h.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
  }, timeBudget(180_000));

  afterAll(async () => {
    await browser?.close();
    await h?.stop();
    await rx?.close();
  });

  it('an owner adds a target, sees its secret once, tests it, reads its log, edits, pauses and deletes it', async () => {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      colorScheme: 'light',
    });
    const page = await context.newPage();
    page.setDefaultTimeout(timeBudget(30_000));
    const watch = new PageWatch(page);
    await signIn(page, watch, base, owner);
    await openAccountMenu(page, 'owner', 'Alerts', 'Alerts');
    await page.getByText('No alert targets yet').waitFor();
    await axeClean(page, 'no targets');

    // The form: the API's refusal is shown at the field it concerns.
    await page.getByRole('button', { name: 'Add target' }).click();
    const form = page.getByRole('form', { name: 'New alert target' });
    await form.getByRole('textbox', { name: 'Name' }).fill('ops hook');
    const url = form.getByRole('textbox', { name: 'Webhook URL' });
    await url.fill('ftp://127.0.0.1/nope');
    await form.getByRole('button', { name: 'Add target' }).click();
    await form.getByText('url must use https or http').waitFor();
    expect(await url.getAttribute('aria-invalid')).toBe('true');
    await axeClean(page, 'the new-target form with a field error');
    // The one refusal is that answer (Chromium also logs it to the console).
    expect(watch.problems).toContain(`HTTP 400: POST ${base}/api/v1/tenants/${tenant}/alert-targets`);
    expect(watch.problems.filter((p) => !/\b400\b/.test(p))).toEqual([]);
    watch.problems.length = 0;

    await url.fill(rx.url);
    await form.getByRole('checkbox', { name: 'Partially succeeded' }).check();
    await form.getByRole('button', { name: 'Add target' }).click();
    await form.waitFor({ state: 'detached' });
    const secretBox = page.getByTestId('signing-secret');
    const secret = (await secretBox.textContent())!.trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const card = page.getByRole('region', { name: 'ops hook' });
    await card.waitFor();
    // The URL is shown masked: the path's secret part never reaches the page.
    expect(await card.getByTestId('target-url').textContent()).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/hooks\/…$/,
    );
    expect(await page.content()).not.toContain(PATH_SECRET);
    await expect.poll(() => card.getByTestId('target-state').textContent()).toBe('Enabled');
    await expect.poll(() => card.getByTestId('last-delivery').textContent()).toBe('none yet');
    await axeClean(page, 'a new target with its secret shown');
    const [made] = await targets();
    expect(made).toMatchObject({
      name: 'ops hook',
      enabled: true,
      outcomes: ['failed', 'partially_succeeded'],
    });

    // Send test: the receiver gets one delivery, signed with the secret the page showed.
    await card.getByRole('button', { name: 'Send test to ops hook' }).click();
    const result = card.getByTestId('test-result');
    await expect
      .poll(() => result.getAttribute('data-status'), { timeout: timeBudget(60_000) })
      .toBe('delivered');
    expect(await result.textContent()).toMatch(/^Test delivered: the receiver answered HTTP 200 in /);
    // Time for a second try to arrive, were there one.
    await page.waitForTimeout(timeBudget(2_000));
    expect(rx.received).toHaveLength(1);
    const [got] = rx.received;
    expect(got!.headers['opsledger-event']).toBe('test');
    expect(verifySignature(secret, got!.headers['opsledger-signature'] as string, got!.body)).toBe(true);
    expect(verifySignature('whsec_wrong', got!.headers['opsledger-signature'] as string, got!.body)).toBe(
      false,
    );
    const payload = JSON.parse(got!.body);
    expect(payload).toMatchObject({
      event: 'test',
      tenantId: tenant,
      target: { id: made!.id, name: 'ops hook' },
    });
    expect(payload.id).toBe(got!.headers['opsledger-delivery']);
    await expect
      .poll(() => card.getByTestId('last-delivery').textContent())
      .toMatch(/^DeliveredTest · HTTP 200 · /);

    // The delivery log shows it: the event, its status, the try with the receiver's answer.
    await card.getByRole('button', { name: 'Delivery log of ops hook' }).click();
    const log = card.getByRole('table', { name: 'Latest deliveries to ops hook' });
    const row = log.locator(`tr[data-delivery="${payload.id}"]`);
    await row.waitFor();
    expect(await row.getByRole('cell').nth(1).textContent()).toBe('Test');
    expect(await row.getByRole('cell').nth(2).textContent()).toBe('Delivered');
    expect(await row.getByRole('cell').nth(3).textContent()).toMatch(/^#1: HTTP 200 in \d+ ms, /);
    expect(await log.locator('tbody tr').count()).toBe(1);
    await axeClean(page, 'the delivery log open');

    // Edit the rules: failed runs only, and runs still active after 45 minutes; the URL is kept.
    await card.getByRole('button', { name: 'Edit ops hook' }).click();
    const edit = page.getByRole('form', { name: 'Edit ops hook' });
    expect(await edit.getByRole('textbox', { name: 'Name' }).inputValue()).toBe('ops hook');
    expect(await edit.getByRole('textbox', { name: 'Webhook URL' }).inputValue()).toBe('');
    await edit.getByRole('checkbox', { name: 'Partially succeeded' }).uncheck();
    await edit.getByRole('textbox', { name: /still active after/ }).fill('45');
    await axeClean(page, 'the edit form');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.waitFor({ state: 'detached' });
    await card.getByTestId('target-rules').getByText('45 minutes').waitFor();
    expect(await card.getByTestId('target-rules').textContent()).toContain('OutcomesFailed');
    expect((await targets())[0]).toMatchObject({
      outcomes: ['failed'],
      longerThanMinutes: 45,
      enabled: true,
    });
    expect(await card.getByTestId('target-url').textContent()).toMatch(/\/hooks\/…$/);

    // Pause it.
    await card.getByRole('button', { name: 'Pause ops hook' }).click();
    await expect.poll(() => card.getByTestId('target-state').textContent()).toBe('Paused');
    await card.getByRole('button', { name: 'Enable ops hook' }).waitFor();
    expect((await targets())[0]!.enabled).toBe(false);
    await axeClean(page, 'a paused target');

    // Delete it, after a confirmation.
    await card.getByRole('button', { name: 'Delete ops hook' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete ops hook?' });
    await confirm.waitFor();
    await axeClean(page, 'the delete confirmation');
    await confirm.getByRole('button', { name: 'Delete target' }).click();
    await card.waitFor({ state: 'detached' });
    await page.getByText('No alert targets yet').waitFor();
    expect(await targets()).toEqual([]);

    // The secret was shown once: a fresh load of the page has it nowhere.
    await watch.leave(() => page.reload());
    await page.getByRole('heading', { level: 1, name: 'Alerts' }).waitFor();
    await page.getByText('No alert targets yet').waitFor();
    expect(await page.content()).not.toContain(secret);
    expect(rx.received).toHaveLength(1);
    expect(watch.problems).toEqual([]);
    await context.close();
  });

  it('a viewer sees the page read-only, with the reason, and reads nothing the API refuses', async () => {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      colorScheme: 'light',
    });
    const page = await context.newPage();
    page.setDefaultTimeout(timeBudget(30_000));
    const watch = new PageWatch(page);
    const asked: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/alert-targets')) asked.push(`${r.method()} ${r.url()}`);
    });
    await signIn(page, watch, base, viewer);
    await openAccountMenu(page, 'viewer', 'Alerts', 'Alerts');
    const reason = page.getByTestId('alerts-read-only');
    await reason.waitFor();
    expect(await reason.textContent()).toContain("Only the tenant's owners see and manage its alert targets");
    expect(await reason.textContent()).toContain('Your role in Alerting is viewer.');
    const add = page.getByRole('button', { name: 'Add target' });
    expect(await add.getAttribute('aria-disabled')).toBe('true');
    expect(await add.getAttribute('aria-describedby')).toBeTruthy();
    // The reason on hover and on keyboard focus; a click opens nothing.
    await add.hover();
    await page.getByRole('tooltip').getByText("Only the tenant's owners see and manage").waitFor();
    await axeClean(page, "a viewer's page with the reason's tooltip");
    // Playwright will not click what says it is disabled; a forced click is what a person's would be.
    await add.click({ force: true });
    expect(await page.getByRole('dialog').count()).toBe(0);
    await page.mouse.move(0, 0);
    await page.getByRole('tooltip').waitFor({ state: 'detached' });
    // From the top of the page's content, Tab reaches it first (a keyboard's focus, not a script's).
    await page.locator('#main').focus();
    await page.keyboard.press('Tab');
    expect(await add.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await page.getByRole('tooltip').waitFor();
    expect(asked).toEqual([]);
    expect(watch.problems).toEqual([]);
    await context.close();
  });
  // `UPDATE_SCREENSHOTS=1` only: docs/screenshots/alerts-1280.png, two targets in their usual states.
  it.runIf(SHOTS)('screenshot: a working target and a paused one whose receiver is down', async () => {
    const headers = h.bearer(owner);
    const make = async (body: object) => {
      const res = await h.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/alert-targets`,
        headers,
        payload: body,
      });
      expect(res.statusCode, res.body).toBe(201);
      const id: string = res.json().target.id;
      const test = await h.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/alert-targets/${id}/test`,
        headers,
      });
      expect(test.statusCode).toBe(202);
      return id;
    };
    const tries = async (id: string) =>
      (
        await h.app.inject({ url: `/api/v1/tenants/${tenant}/alert-targets/${id}/deliveries`, headers })
      ).json().data[0]?.attempts.length ?? 0;
    const ops = await make({ name: 'ops channel', url: rx.url, outcomes: ['failed', 'partially_succeeded'] });
    const pager = await make({
      name: 'pager (nights)',
      url: rx.down,
      types: ['test.task'],
      outcomes: ['failed'],
      longerThanMinutes: 120,
    });
    await expect.poll(() => tries(ops), { timeout: timeBudget(60_000) }).toBe(1);
    await expect.poll(() => tries(pager), { timeout: timeBudget(60_000) }).toBeGreaterThanOrEqual(2);
    await h.app.inject({
      method: 'PATCH',
      url: `/api/v1/tenants/${tenant}/alert-targets/${pager}`,
      headers,
      payload: { enabled: false },
    });

    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      colorScheme: 'light',
    });
    const page = await context.newPage();
    page.setDefaultTimeout(timeBudget(30_000));
    const watch = new PageWatch(page);
    await signIn(page, watch, base, owner);
    await openAccountMenu(page, 'owner', 'Alerts', 'Alerts');
    const card = page.getByRole('region', { name: 'pager (nights)' });
    await card.getByRole('button', { name: 'Delivery log of pager (nights)' }).click();
    await card.getByRole('table').waitFor();
    await page.mouse.move(0, 0);
    await axeClean(page, 'two targets, one log open');
    await page.screenshot({ path: path.join(SHOTS!, 'alerts-1280.png'), fullPage: true });
    expect(watch.problems).toEqual([]);
    await watch.close();
    await context.close();
  });
});
