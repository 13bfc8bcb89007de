import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoCredential, ensureDemoUsers } from '../src/access/demo-user.ts';
import type { HttpApp } from '../src/http/app.ts';
import { loadConfig } from '../src/main/config.ts';
import { createHttpServer } from '../src/main/http.ts';
import { createSuite, type Suite } from '../src/main/suite.ts';
import { createLogger } from '../src/shared/logger.ts';
import { loadRootKey } from '../src/shared/secret-key.ts';
import { DEMO_TENANTS, seedDemo } from '../src/suite/demo.ts';
import { launchChromium, PageWatch, seriousViolations, signIn } from './helpers/browser.ts';
import { createTestDatabase } from './helpers/db.ts';
import { startTestLedger, TEST_SECRET_KEY, type TestLedger } from './helpers/ledger.ts';

// The Operations screen's second pass in Chromium: the restore wizard run to the end many times,
// the live list across a server restart, run numbers, the failure-first run page, bulk retry,
// dark mode, shortcuts, axe on every state visited, and the size of the first load.
// Embedded-database pass only, like test/ui-e2e.test.ts (the API is covered on both databases).
const EMBEDDED = !process.env.DATABASE_URL;
console.log(
  EMBEDDED
    ? 'UI operations tests (Chromium): running in the embedded-database pass'
    : 'UI operations tests (Chromium): not in this pass; they run in the embedded-database pass',
);

const UI_DIR = path.resolve(import.meta.dirname, '../web/dist');
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.resolve(import.meta.dirname, '../docs/screenshots')
  : null;
const [CONTOSO] = DEMO_TENANTS;
const HTTP_OPTIONS = {
  ui: { dir: UI_DIR },
  limits: { loginPerMinute: 1000, loginFailuresPerEmail: 1000, startsPerMinute: 10_000 },
};

let ledger: TestLedger;
let suite: Suite;
let app: HttpApp;
let base: string;
let port: number;
let browser: Browser;
let owner: { email: string; password: string };
let roles: DemoCredential[];
const watches: PageWatch[] = [];
const contexts: BrowserContext[] = [];
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-ui-ops-'));

const cred = (tenant: string, role: string) => roles.find((r) => r.tenant === tenant && r.role === role)!;

async function newPage(
  viewport = { width: 1280, height: 800 },
  colorScheme: 'light' | 'dark' = 'light',
): Promise<{ page: Page; watch: PageWatch }> {
  // One page open at a time: each holds a live stream, and a user may hold only a few.
  for (const w of watches) if (!w.page.isClosed()) await w.close();
  for (const c of contexts.splice(0)) await c.close().catch(() => {});
  const context = await browser.newContext({ viewport, colorScheme });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const watch = new PageWatch(page);
  watches.push(watch);
  return { page, watch };
}

async function expectAccessible(page: Page, what: string) {
  expect(await seriousViolations(page), what).toEqual([]);
}

async function apiGet<T = any>(page: Page, url: string): Promise<T> {
  const res = await page.request.get(`${base}${url}`);
  expect(res.status(), url).toBe(200);
  return (await res.json()) as T;
}

async function closeToasts(page: Page) {
  for (const close of await page.getByRole('button', { name: 'Close notification' }).all())
    await close.click().catch(() => {});
}

async function settled(tenantId: string, runId: string) {
  for (let i = 0; i < 1200; i++) {
    const run = await ledger.service.get(tenantId, runId);
    if (run.status === 'completed') return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} did not complete`);
}

describe.runIf(EMBEDDED)('the Operations screen in Chromium', { timeout: 400_000 }, () => {
  beforeAll(async () => {
    if (!fs.existsSync(path.join(UI_DIR, 'index.html'))) {
      throw new Error('web/dist is missing: npm ci builds it (or npm run build:web)');
    }
    const testDb = await createTestDatabase();
    const config = loadConfig({ DATA_DIR: dataDir, SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'silent' });
    const rootKey = loadRootKey(config);
    suite = createSuite(
      { config, database: testDb.database, logger: createLogger({ level: 'silent' }), rootKey },
      { retryDelaySeconds: 0 },
    );
    ledger = await startTestLedger({ definitions: suite.definitions, testDb, worker: true });
    const tenants = await seedDemo(
      { database: ledger.database, config, rootKey },
      { connections: suite.connections },
    );
    app = await createHttpServer(ledger, HTTP_OPTIONS);
    ({ owner, roles } = await ensureDemoUsers(app.opsledger.access, tenants, ledger.rootKey));
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    port = Number(new URL(base).port);
    browser = await launchChromium();
  }, 360_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await app?.close();
    await ledger?.stop();
    await suite?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('first load of the Operations page is at most 300 KB of compressed JavaScript', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, owner, { rows: true });
    const scripts = new Map<string, number>();
    page.on('response', async (r) => {
      if (r.request().resourceType() !== 'script') return;
      const body = await r.body().catch(() => null);
      if (body) scripts.set(r.url(), gzipSync(body).length);
    });
    await watch.leave(() => page.goto(`${base}/t/${CONTOSO.id}/operations`));
    await page.getByTestId('run-row').first().waitFor();
    await page.waitForLoadState('networkidle').catch(() => {});
    const total = [...scripts.values()].reduce((a, b) => a + b, 0);
    console.log(
      `[ui-operations] first load: ${scripts.size} scripts, ${total} bytes of gzip-compressed JavaScript:`,
      [...scripts].map(([url, n]) => `${new URL(url).pathname} ${n}`).join(', '),
    );
    expect(scripts.size).toBeGreaterThan(1);
    expect(total).toBeLessThanOrEqual(300_000);
  });

  it('run numbers are distinct on the demo data, shown with copy buttons, and searchable as shown', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, owner, { rows: true });
    const all: { id: string; number: number }[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const pageOf: { data: { id: string; number: number }[]; nextCursor: string | null } = await apiGet(
        page,
        `/api/v1/tenants/${CONTOSO.id}/operations?limit=200${q}`,
      );
      all.push(...pageOf.data);
      cursor = pageOf.nextCursor;
    } while (cursor);
    expect(all.length).toBeGreaterThan(100);
    expect(new Set(all.map((r) => r.number)).size).toBe(all.length);

    await watch.leave(() => page.goto(`${base}/t/${CONTOSO.id}/operations?size=100`));
    await expect.poll(() => page.getByTestId('run-row').count(), { timeout: 30_000 }).toBe(100);
    const shown = await page.getByTestId('run-number').allTextContents();
    expect(new Set(shown).size).toBe(100);
    expect(await page.getByRole('button', { name: /^Copy run number #\d+$/ }).count()).toBe(100);
    await expect.poll(() => page.getByTestId('counts-summary').textContent()).toContain(`${all.length} runs`);

    const target = all[37]!;
    await page.getByLabel('Run number or id').fill(`#${target.number}`);
    await page.getByLabel('Run number or id').press('Enter');
    await expect
      .poll(() =>
        page.getByTestId('run-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-run-id'))),
      )
      .toEqual([target.id]);
    // The shortcut `/` puts the cursor in that field from anywhere on the page.
    await page.evaluate('document.activeElement && document.activeElement.blur()');
    await page.keyboard.press('/');
    await expect
      .poll(() => page.evaluate('document.activeElement.getAttribute("data-shortcut")'))
      .toBe('search');
  });

  it('a failed run shows its outcome and reason above the fold at 1280×800 and 390×844; axe clean in light and dark', async () => {
    for (const [viewport, scheme] of [
      [{ width: 1280, height: 800 }, 'light'],
      [{ width: 1280, height: 800 }, 'dark'],
      [{ width: 390, height: 844 }, 'light'],
      [{ width: 390, height: 844 }, 'dark'],
    ] as const) {
      const { page, watch } = await newPage(viewport, scheme);
      await signIn(page, watch, base, owner, { rows: true });
      const failed = (
        await apiGet(page, `/api/v1/tenants/${CONTOSO.id}/operations?outcome=failed&limit=50`)
      ).data.find((r: { failureSummary: unknown[] }) => r.failureSummary.length > 0);
      expect(failed).toBeTruthy();
      await watch.leave(() => page.goto(`${base}/t/${CONTOSO.id}/operations/${failed.id}`));
      const reason = page.getByTestId('outcome-reason');
      await reason.waitFor();
      const box = (await reason.boundingBox())!;
      expect(box.y + box.height).toBeLessThanOrEqual(viewport.height);
      expect(await reason.textContent()).toContain(failed.failureSummary[0].code);
      expect(await page.getByTestId('outcome').textContent()).toMatch(/^Failed/);
      await expectAccessible(page, `failed run (${scheme}, ${viewport.width})`);
      if (SHOTS) {
        await page.screenshot({
          path: path.join(SHOTS, `failed-${scheme === 'dark' ? 'dark-' : ''}${viewport.width}.png`),
        });
      }
    }
  });

  it('bulk retry of three failed runs: one retry each, linked both ways; a second retry is refused in the page', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, cred(CONTOSO.name, 'operator'), { rows: true });
    const simulator = await suite.connections.simulator();
    const heal = simulator.injectFault(CONTOSO.directoryId, '*', { kind: 'error', status: 403 });
    const failed: string[] = [];
    for (const i of [1, 2, 3]) {
      const { run } = await ledger.service.start({
        tenantId: CONTOSO.id,
        type: 'backup.create',
        inputs: { name: `Bulk ${i}` },
        initiator: { kind: 'system', name: 'test' },
      });
      failed.push(run.id);
    }
    for (const id of failed) expect((await settled(CONTOSO.id, id)).outcome).toBe('failed');
    heal();

    await watch.leave(() =>
      page.goto(`${base}/t/${CONTOSO.id}/operations?type=backup.create&outcome=failed&size=100`),
    );
    for (const id of failed) {
      const box = page.locator(`[data-testid=run-row][data-run-id="${id}"] input[type=checkbox]`);
      await box.check();
    }
    await page.getByRole('button', { name: 'Retry selected (3)' }).click();
    await expect
      .poll(() => page.getByTestId('bulk-result').textContent(), { timeout: 60_000 })
      .toBe('Retry: 3 retried.');
    await expectAccessible(page, 'operations after a bulk retry');

    // Each original names its retry, and its Retry button is disabled while that retry is active
    // (or warns once it has succeeded).
    const detail = await apiGet(page, `/api/v1/tenants/${CONTOSO.id}/operations/${failed[0]}`);
    expect(detail.retries).toHaveLength(1);
    await watch.leave(() => page.goto(`${base}/t/${CONTOSO.id}/operations/${failed[0]}`));
    await page.getByTestId('retried-by').first().waitFor();
    expect(await page.getByTestId('retried-by').first().textContent()).toBe(`#${detail.retries[0].number}`);
    const retryButton = page.getByRole('button', { name: 'Retry', exact: true });
    const retryState = async () => {
      if (await retryButton.isDisabled()) return 'disabled';
      await retryButton.click();
      // The warning is part of the confirmation: look once the dialog is there, not before.
      await page.getByRole('dialog', { name: 'Retry this run?' }).waitFor();
      const warned = await page
        .getByTestId('retry-warning')
        .isVisible()
        .catch(() => false);
      await page.getByRole('button', { name: 'Keep it' }).click();
      return warned ? 'warned' : 'plain';
    };
    expect(['disabled', 'warned']).toContain(await retryState());
    // The retry links back to its original.
    await page.getByTestId('retried-by').first().click();
    await page.getByRole('link', { name: 'the original run' }).waitFor();
    await settled(CONTOSO.id, detail.retries[0].id);
  });

  it('a list open across a server restart says "reconnecting", then shows a run finished meanwhile within seconds', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, owner, { rows: true });
    await page.locator('[data-testid=live-state][data-state=live]').waitFor();
    const simulator = await suite.connections.simulator();
    simulator.injectFault(CONTOSO.directoryId, '*', { kind: 'slow', delayMs: 1500, times: 6 });
    const { run } = await ledger.service.start({
      tenantId: CONTOSO.id,
      type: 'backup.create',
      inputs: { name: 'Across a restart' },
      initiator: { kind: 'api', name: 'automation' },
    });
    const row = page.locator(`[data-testid=run-row][data-run-id="${run.id}"]`);
    await row.waitFor({ timeout: 30_000 });

    // From here until the stream is live again, refused and failed requests are the point.
    const outage = watch.problems.length;
    await app.close();
    const atClose = await ledger.service.get(CONTOSO.id, run.id);
    console.log(`[ui-operations] the run was ${atClose.status} when the server stopped`);
    await page.locator('[data-testid=live-state][data-state=reconnecting]').waitFor({ timeout: 20_000 });
    const done = await settled(CONTOSO.id, run.id);
    expect(done.outcome).toBe('succeeded');

    app = await createHttpServer(ledger, HTTP_OPTIONS);
    await app.listen({ port, host: '127.0.0.1' });
    const back = Date.now();
    await row.locator('[data-outcome=succeeded]').waitFor({ timeout: 20_000 });
    console.log(`[ui-operations] the finished run showed ${Date.now() - back} ms after the server came back`);
    await page.locator('[data-testid=live-state][data-state=live]').waitFor();
    watch.problems.splice(outage);
  });

  it('the restore wizard completes dry run → execute 20 times in a row; its choices live in the URL', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, cred(CONTOSO.name, 'operator'), { rows: true });
    const sets = await apiGet(page, `/api/v1/tenants/${CONTOSO.id}/backup-sets`);
    const set = sets.data.find((s: { name: string }) => s.name === 'Baseline');
    const items = await apiGet(page, `/api/v1/tenants/${CONTOSO.id}/backup-sets/${set.id}/items`);
    const two = items.data.slice(0, 2).map((i: { externalId: string }) => i.externalId);
    const wizardUrl = `${base}/t/${CONTOSO.id}/restore?backup=${set.id}&items=${encodeURIComponent(JSON.stringify(two))}`;
    const seen = new Set<string>();
    for (let i = 1; i <= 20; i++) {
      await watch.leave(() => page.goto(wizardUrl));
      await page.getByText(/^2\. Items to restore \(2 of \d+ chosen\)/).waitFor();
      await page.getByRole('button', { name: '3. Dry run' }).click();
      await page.waitForURL(/dry=/);
      const dry = new URL(page.url()).searchParams.get('dry')!;
      await expect
        .poll(() => page.getByTestId('dry-run-summary').textContent(), { timeout: 60_000 })
        .toMatch(/found \d+ items? to change/);
      if (i === 1) {
        // Leaving and coming back keeps the backup, the items and the dry run.
        const url = page.url();
        await watch.leave(() => page.reload());
        await expect
          .poll(() => page.getByTestId('dry-run-summary').textContent(), { timeout: 60_000 })
          .toMatch(/found/);
        expect(page.url()).toBe(url);
        await expectAccessible(page, 'restore wizard after its dry run');
      }
      await page.getByRole('button', { name: '4. Execute' }).click();
      await page.getByRole('button', { name: 'Execute restore' }).click();
      await page.waitForURL(/record=/);
      const record = new URL(page.url()).searchParams.get('record')!;
      expect(record).not.toBe(dry);
      seen.add(record);
      await page
        .locator(`[data-testid=restore-record][data-record-id="${record}"] [data-restore-status=completed]`)
        .waitFor({ timeout: 60_000 });
      await closeToasts(page);
    }
    expect(seen.size).toBe(20);
  }, 900_000);

  it('keyboard: a skip link first, `?` lists the shortcuts, `g o` goes to Operations; dark mode follows the system', async () => {
    for (const [viewport, scheme] of [
      [{ width: 1280, height: 800 }, 'dark'],
      [{ width: 390, height: 844 }, 'dark'],
      [{ width: 390, height: 844 }, 'light'],
    ] as const) {
      const { page, watch } = await newPage(viewport, scheme);
      await signIn(page, watch, base, owner, { rows: true });
      expect(await page.evaluate('document.documentElement.getAttribute("data-mantine-color-scheme")')).toBe(
        scheme,
      );
      const [scrollWidth = 0, innerWidth = 0] = (await page.evaluate(
        '[document.documentElement.scrollWidth, window.innerWidth]',
      )) as number[];
      expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
      // Badges are never cut at any width.
      const cut = await page
        .locator('[data-testid=run-row] .mantine-Badge-root')
        .evaluateAll((els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent));
      expect(cut).toEqual([]);
      if (viewport.width === 1280) {
        await expectAccessible(page, `operations (${scheme})`);
        await page.keyboard.press('Tab');
        expect(await page.evaluate('document.activeElement.textContent')).toBe('Skip to content');
        await page.keyboard.press('Enter');
        await page.keyboard.press('?');
        await page.getByTestId('shortcuts').waitFor();
        await expectAccessible(page, `shortcuts dialog (${scheme})`);
        await page.keyboard.press('Escape');
        await page.getByRole('link', { name: 'Overview', exact: true }).click();
        await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
        await page.evaluate('document.activeElement && document.activeElement.blur()');
        await page.keyboard.press('g');
        await page.keyboard.press('o');
        await page.getByRole('heading', { level: 1, name: 'Operations' }).waitFor();
        await page.getByTestId('run-row').first().waitFor();
      }
      // The light list's screenshots come from test/ui-e2e.test.ts; the dark ones from here.
      if (SHOTS && scheme === 'dark') {
        await closeToasts(page);
        await page.evaluate('document.activeElement && document.activeElement.blur()');
        await page.mouse.move(viewport.width / 2, 1);
        await page.screenshot({ path: path.join(SHOTS, `operations-dark-${viewport.width}.png`) });
      }
      // The date picker's calendar, open: a named dialog, named arrow buttons, readable days, and
      // within the page's width.
      await page.getByRole('button', { name: 'Created' }).click();
      const calendar = page.getByRole('dialog', { name: 'Created: choose dates' });
      await calendar.getByRole('button', { name: 'Next month' }).waitFor();
      await calendar.getByRole('button', { name: 'Previous month' }).waitFor();
      const box = (await calendar.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
      await expectAccessible(page, `date picker open (${scheme}, ${viewport.width})`);
      await page.keyboard.press('Escape');
      await calendar.waitFor({ state: 'hidden' });
    }
  });

  it('the Overview counts restore dry runs apart ("Restore (dry run)"), and its link lists just them', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, owner, { rows: true });
    await watch.leave(() => page.goto(`${base}/t/${CONTOSO.id}/overview?window=30d`));
    const card = page.locator('[data-testid=type-stats][data-type="restore.execute"][data-dry-run]');
    await card.getByRole('heading', { name: 'Restore (dry run)' }).waitFor();
    const stats = await apiGet(page, `/api/v1/tenants/${CONTOSO.id}/operations/stats?window=30d`);
    const dry = stats.data.find(
      (r: { type: string; dryRun: boolean }) => r.type === 'restore.execute' && r.dryRun,
    );
    const listed = await apiGet(
      page,
      `/api/v1/tenants/${CONTOSO.id}/operations?type=restore.execute&dryRun=true&since=${encodeURIComponent(stats.since)}&limit=200`,
    );
    expect(dry.total).toBe(listed.data.length);
    expect(await card.textContent()).toContain(`${dry.total} run${dry.total === 1 ? '' : 's'}`);
    await expectAccessible(page, 'overview with dry runs apart');

    const rates = page.getByTestId('failure-rates');
    await rates.locator('tr[data-type="restore.execute"][data-dry-run]').waitFor();
    await rates.getByRole('link', { name: 'Restore (dry run)', exact: true }).click();
    await page.waitForURL(/dryRun=true/);
    await page.getByTestId('run-row').first().waitFor();
    const rows = page.getByTestId('run-row');
    expect(await rows.count()).toBeGreaterThan(0);
    expect(await rows.getByTestId('run-tag').allTextContents()).toEqual(
      Array.from({ length: await rows.count() }, () => 'Dry run'),
    );
    expect(await page.getByRole('combobox', { name: 'Dry runs' }).inputValue()).toBe('Only dry runs');
  });

  it('no console error and no failed request on any page during these tests', () => {
    expect(watches.flatMap((w) => w.problems)).toEqual([]);
  });
});
