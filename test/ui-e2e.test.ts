import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
import { timeBudget } from './helpers/time.ts';

// The browser tests run in the embedded-database pass (no DATABASE_URL): the UI talks to the API
// only, which both passes already cover route by route, and Chromium on two cores is the slow part.
const EMBEDDED = !process.env.DATABASE_URL;
if (!EMBEDDED) {
  console.log('UI end-to-end tests (Chromium): not in this pass; they run in the embedded-database pass');
} else {
  console.log('UI end-to-end tests (Chromium): running in the embedded-database pass');
}

const UI_DIR = path.resolve(import.meta.dirname, '../web/dist');
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.resolve(import.meta.dirname, '../docs/screenshots')
  : null;
const [CONTOSO, FABRIKAM] = DEMO_TENANTS;

let ledger: TestLedger;
let suite: Suite;
let app: HttpApp;
let base: string;
let browser: Browser;
let owner: { email: string; password: string };
let roles: DemoCredential[];
const watches: PageWatch[] = [];
const contexts: BrowserContext[] = [];
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-ui-'));

const cred = (tenant: string, role: string) => roles.find((r) => r.tenant === tenant && r.role === role)!;

async function newPage(viewport = { width: 1280, height: 800 }): Promise<{ page: Page; watch: PageWatch }> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const watch = new PageWatch(page);
  watches.push(watch);
  return { page, watch };
}

const rowIds = (page: Page) =>
  page.getByTestId('run-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-run-id')!));

async function nav(page: Page, label: string) {
  await page.getByRole('link', { name: label, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: label }).waitFor();
}

async function expectAccessible(page: Page, what: string) {
  expect(await seriousViolations(page), what).toEqual([]);
}

/** A run as the API returns it, with the page's own session cookie. */
async function apiRun(page: Page, tenantId: string, runId: string) {
  const res = await page.request.get(`${base}/api/v1/tenants/${tenantId}/operations/${runId}`);
  expect(res.status()).toBe(200);
  return (await res.json()) as { status: string; outcome: string; summaryCounts: Record<string, number> };
}

async function pickOption(page: Page, label: string, option: string) {
  await page.getByRole('combobox', { name: label, exact: true }).click();
  await page.getByRole('option', { name: option, exact: true }).click();
}

describe.runIf(EMBEDDED)('web UI in Chromium', { timeout: timeBudget(300_000) }, () => {
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
    app = await createHttpServer(ledger, {
      ui: { dir: UI_DIR },
      limits: { loginPerMinute: 1000, loginFailuresPerEmail: 1000, startsPerMinute: 10_000 },
    });
    ({ owner, roles } = await ensureDemoUsers(app.opsledger.access, tenants, ledger.rootKey));
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
  }, timeBudget(360_000));

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await app?.close();
    await ledger?.stop();
    await suite?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the app at / with long-cached hashed assets; unknown API paths stay problem JSON', async () => {
    const page = await fetch(`${base}/t/x/operations`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${base}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const api = await fetch(`${base}/api/v1/nope`, { headers: { accept: 'text/html' } });
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await fetch(`${base}/assets/nope.js`)).status).toBe(404);
  });

  it('an operator syncs from Inventory, follows View run to live progress and the final counts; Operations shows it on top without a reload', async () => {
    const { page, watch } = await newPage();
    await watch.leave(() => page.goto(`${base}/`));
    await expectAccessible(page, 'sign-in');
    const operator = cred(CONTOSO.name, 'operator');
    await signIn(page, watch, base, operator, { rows: true });
    await expectAccessible(page, 'operations');
    // Slow Graph for this tenant, so the run is visibly in progress for a while.
    const simulator = await suite.connections.simulator();
    simulator.injectFault(CONTOSO.directoryId, '*', { kind: 'slow', delayMs: 700, times: 6 });
    await page.evaluate('window.marker = 42');

    await nav(page, 'Inventory');
    await page.getByTestId('last-inventory.sync').getByRole('link').waitFor();
    await expectAccessible(page, 'inventory');
    await page.getByRole('button', { name: 'Sync now' }).click();
    const viewRun = page.getByRole('link', { name: 'View run' });
    await viewRun.click();
    await page.waitForURL(/\/operations\/[0-9a-f-]{36}$/);
    const runId = page.url().split('/').at(-1)!;
    await page.getByTestId('progress').waitFor();
    await expect
      .poll(() => page.getByTestId('progress').textContent())
      .toMatch(/In progress|Waiting to start/);
    await expectAccessible(page, 'run detail while running');
    await page.locator('[data-testid=run-detail][data-status=completed]').waitFor({ timeout: 90_000 });
    expect(await page.getByTestId('progress').count()).toBe(0);

    const final = await apiRun(page, CONTOSO.id, runId);
    expect(final.status).toBe('completed');
    expect(await page.getByTestId('run-detail').getAttribute('data-outcome')).toBe(final.outcome);
    const shown = await page
      .getByTestId('counts')
      .locator('tr')
      .evaluateAll((rows) =>
        Object.fromEntries(
          rows.map((r) => [r.getAttribute('data-count'), Number(r.querySelector('td')?.textContent)]),
        ),
      );
    expect(shown).toEqual(Object.fromEntries(Object.entries(final.summaryCounts).map(([k, v]) => [k, v])));
    await expectAccessible(page, 'run detail');

    await page.getByRole('link', { name: '← Operations' }).click();
    await page.getByTestId('run-row').first().waitFor();
    const top = page.getByTestId('run-row').first();
    expect(await top.getAttribute('data-run-id')).toBe(runId);
    expect(await top.locator('[data-outcome]').getAttribute('data-outcome')).toBe(final.outcome);

    // A run started elsewhere appears on top and reaches its final badge live.
    const { run } = await ledger.service.start({
      tenantId: CONTOSO.id,
      type: 'backup.create',
      inputs: { name: 'From elsewhere' },
      initiator: { kind: 'api', name: 'automation' },
    });
    await expect.poll(async () => (await rowIds(page))[0], { timeout: 30_000 }).toBe(run.id);
    await page
      .locator(`[data-testid=run-row][data-run-id="${run.id}"] [data-outcome=succeeded]`)
      .waitFor({ timeout: 60_000 });
    expect(await page.evaluate('window.marker')).toBe(42);
  });

  it('clicking Sync now twice while the first is active leads to the same run', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, cred(CONTOSO.name, 'owner'), { rows: true });
    const simulator = await suite.connections.simulator();
    simulator.injectFault(CONTOSO.directoryId, '*', { kind: 'slow', delayMs: 1500, times: 6 });
    await nav(page, 'Inventory');
    await page.getByRole('button', { name: 'Sync now' }).click();
    const first = await page.getByRole('link', { name: 'View run' }).first().getAttribute('href');
    const firstId = first!.split('/').at(-1)!;
    await page.getByRole('button', { name: 'Sync now' }).click();
    // The deduplicated start opens the active run instead of starting another.
    await page.waitForURL(new RegExp(`/operations/${firstId}$`));
    await page.getByText('already running').first().waitFor();
    const list = await page.request.get(
      `${base}/api/v1/tenants/${CONTOSO.id}/operations?type=inventory.sync&status=running`,
    );
    const queued = await page.request.get(
      `${base}/api/v1/tenants/${CONTOSO.id}/operations?type=inventory.sync&status=queued`,
    );
    const active = [...(await list.json()).data, ...(await queued.json()).data].map(
      (r: { id: string }) => r.id,
    );
    expect(active).toEqual([firstId]);
    await page.locator('[data-testid=run-detail][data-status=completed]').waitFor({ timeout: 90_000 });
  });

  it('filters and search by id narrow the list, a reload restores the view, and older/newer page through', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, owner, { rows: true });
    await page.getByRole('combobox', { name: 'Tenant' }).waitFor();
    const firstPage = await rowIds(page);
    expect(firstPage.length).toBe(25);

    await page.getByRole('button', { name: 'Older →' }).click();
    await page.waitForURL(/cursor=/);
    await expect.poll(async () => (await rowIds(page))[0], { timeout: 30_000 }).not.toBe(firstPage[0]);
    const second = await rowIds(page);
    expect(second.filter((id) => firstPage.includes(id))).toEqual([]);
    await page.getByRole('button', { name: '← Newer' }).click();
    await expect.poll(() => rowIds(page)).toEqual(firstPage);

    await pickOption(page, 'Type', 'Drift generation');
    await page.waitForURL(/type=drift\.generate/);
    await expect
      .poll(
        async () =>
          (await page.getByTestId('run-row').getByRole('link').allTextContents()).every((t) =>
            t.startsWith('Drift generation'),
          ),
        { timeout: 30_000 },
      )
      .toBe(true);
    await pickOption(page, 'Outcome', 'Failed');
    await page.waitForURL(/outcome=failed/);
    await expect
      .poll(() =>
        page
          .locator('[data-testid=run-row] [data-outcome]')
          .evaluateAll((els) => els.map((e) => e.getAttribute('data-outcome'))),
      )
      .toSatisfy((o: string[]) => o.length > 0 && o.every((x) => x === 'failed'));
    const filtered = await rowIds(page);
    const url = page.url();
    await watch.leave(() => page.reload());
    await page.getByTestId('run-row').first().waitFor();
    expect(page.url()).toBe(url);
    expect(await rowIds(page)).toEqual(filtered);
    await expect(page.getByRole('combobox', { name: 'Type', exact: true }).inputValue()).resolves.toBe(
      'Drift generation',
    );

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expect.poll(() => rowIds(page)).toEqual(firstPage);
    const target = firstPage[7]!;
    await page.getByLabel('Run number or id').fill(target.slice(0, 13));
    await page.getByLabel('Run number or id').press('Enter');
    await page.waitForURL(/q=/);
    await expect.poll(() => rowIds(page)).toEqual([target]);
    await watch.leave(() => page.reload());
    await expect.poll(() => rowIds(page)).toEqual([target]);
    await expectAccessible(page, 'operations filtered');
  });

  it('a viewer sees no start, cancel or retry control; the switcher lists only their tenant; another tenant’s run is not found', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, cred(CONTOSO.name, 'viewer'), { rows: true });
    await page.getByRole('combobox', { name: 'Tenant' }).click();
    expect(await page.getByRole('option').allTextContents()).toEqual([CONTOSO.name]);
    await page.keyboard.press('Escape');
    // No enabled control of an operator; cancel and retry show disabled with their reason.
    const controls = () =>
      page.getByRole('button', {
        name: /^(Sync now|Generate|Create backup|Cancel|Retry|3\. Dry run|4\. Execute)$/,
        disabled: false,
      });

    for (const label of ['Inventory', 'Drift', 'Backups', 'Restore', 'Overview', 'Operations']) {
      await nav(page, label);
      await page.waitForLoadState('networkidle').catch(() => {});
      expect(await controls().count(), label).toBe(0);
    }
    // A failed run (retry would apply) and an active one (cancel would apply).
    const failed = (
      await (
        await page.request.get(`${base}/api/v1/tenants/${CONTOSO.id}/operations?outcome=failed&limit=1`)
      ).json()
    ).data[0].id as string;
    const { run: active } = await ledger.service.start({
      tenantId: CONTOSO.id,
      type: 'drift.generate',
      inputs: {
        baselineId: (
          await page.request.get(`${base}/api/v1/tenants/${CONTOSO.id}/backup-sets`).then((r) => r.json())
        ).data.at(-1).id,
      },
      initiator: { kind: 'system', name: 'test' },
    });
    for (const id of [failed, active.id]) {
      await watch.leave(() => page.goto(`${base}/t/${CONTOSO.id}/operations/${id}`));
      await page.getByTestId('run-detail').waitFor();
      expect(await controls().count()).toBe(0);
      // The failed run's Retry is there, disabled, with the reason in words.
      if (id === failed)
        await expect(page.getByTestId('disabled-reason').first().textContent()).resolves.toMatch(
          /viewer cannot cancel or retry/,
        );
    }
    const foreign = (await ledger.service.list(FABRIKAM.id, { limit: '1' })).data[0]!.id;
    watch.expectNotFound(`/operations/${foreign}`);
    await watch.leave(() => page.goto(`${base}/t/${FABRIKAM.id}/operations/${foreign}`));
    await page.getByTestId('not-found').waitFor();
    expect(await page.getByText(foreign.slice(0, 8)).count()).toBe(0);
    await watch.leave(() => page.goto(`${base}/t/${CONTOSO.id}/operations/${foreign}`));
    await page.getByTestId('not-found').waitFor();
  });

  it('switching tenant shows only that tenant’s runs', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, owner, { rows: true });
    await pickOption(page, 'Tenant', FABRIKAM.name);
    await page.waitForURL(new RegExp(`/t/${FABRIKAM.id}/operations`));
    await expect.poll(async () => (await rowIds(page)).length, { timeout: 30_000 }).toBeGreaterThan(0);
    const ids = await rowIds(page);
    const fabrikam = new Set(
      (await ledger.service.list(FABRIKAM.id, { limit: '200' })).data.map((r) => r.id),
    );
    expect(ids.every((id) => fabrikam.has(id))).toBe(true);
  });

  it('restore: the dry run shows what would change; executing creates a record and a mirrored run that link to each other', async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, cred(CONTOSO.name, 'operator'), { rows: true });
    // Change one policy in the tenant so the baseline differs from it.
    const simulator = await suite.connections.simulator();
    const policy = simulator.listPolicies(CONTOSO.directoryId, 'deviceConfigurations')[0]!;
    simulator.updatePolicy(CONTOSO.directoryId, 'deviceConfigurations', policy.id, {
      description: 'changed by hand',
    });

    await nav(page, 'Restore');
    await expectAccessible(page, 'restore');
    await pickOption(
      page,
      '1. Backup to restore from',
      await page.request.get(`${base}/api/v1/tenants/${CONTOSO.id}/backup-sets`).then(async (r) => {
        const b = (await r.json()).data.find((s: { name: string }) => s.name === 'Baseline');
        return `${b.name} (${b.itemCount} items, ${b.createdAt.slice(0, 10)})`;
      }),
    );
    await page.getByText(/^2\. Items to restore/).waitFor();
    await page.getByRole('button', { name: '3. Dry run' }).click();
    await expect
      .poll(() => page.getByTestId('dry-run-summary').textContent(), { timeout: 60_000 })
      .toMatch(/found \d+ items? to change/);
    expect(
      await page.locator('[data-testid=restore-items] tr[data-action=update]').count(),
    ).toBeGreaterThanOrEqual(1);
    await expect(page.getByText('Would update').first().isVisible()).resolves.toBe(true);
    await expectAccessible(page, 'restore dry run');
    if (SHOTS) {
      // Toasts come and go; the picture is of the page.
      for (const close of await page.getByRole('button', { name: 'Close notification' }).all())
        await close.click();
      await expect.poll(() => page.getByRole('button', { name: 'Close notification' }).count()).toBe(0);
      const top = () =>
        page.evaluate(
          "(() => { document.querySelector('[data-testid=dry-run-summary]').scrollIntoView({ block: 'center' }); })()",
        );
      await top();
      await page.screenshot({ path: path.join(SHOTS, 'restore-1280.png') });
      await page.setViewportSize({ width: 390, height: 844 });
      // The navigation slides away on a narrow screen; the picture waits until it has.
      await expect
        .poll(async () => {
          const box = await page.locator('.mantine-AppShell-navbar').boundingBox();
          return box ? box.x + box.width : 0;
        })
        .toBeLessThanOrEqual(1);
      await top();
      await page.screenshot({ path: path.join(SHOTS, 'restore-390.png') });
      await page.setViewportSize({ width: 1280, height: 800 });
    }

    await page.getByRole('button', { name: '4. Execute' }).click();
    await page.getByRole('button', { name: 'Execute restore' }).click();
    await page.waitForURL(/record=/);
    const recordId = new URL(page.url()).searchParams.get('record')!;
    const record = page.locator(`[data-testid=restore-record][data-record-id="${recordId}"]`);
    // Generous: on a loaded machine the restore's items through the Graph simulator take their time.
    await record
      .locator('[data-restore-status=completed]')
      .waitFor({ timeout: 120_000 })
      .catch(async (err) => {
        // What the server says of the record and its run, to tell a slow restore from a lost event.
        const res = await page.request.get(`${base}/api/v1/tenants/${CONTOSO.id}/restore-runs/${recordId}`);
        throw new Error(`${(err as Error).message}\nthe record now: ${await res.text()}`);
      });
    await record.getByRole('link', { name: 'View run' }).click();
    await page.waitForURL(/\/operations\/[0-9a-f-]{36}$/);
    const runId = page.url().split('/').at(-1)!;
    await page.getByRole('link', { name: `Restore record ${recordId.slice(0, 8)}` }).click();
    await page.waitForURL(new RegExp(`record=${recordId}`));
    const api = await (
      await page.request.get(`${base}/api/v1/tenants/${CONTOSO.id}/restore-runs/${recordId}`)
    ).json();
    expect(api.runId).toBe(runId);
    expect(api.dryRun).toBe(false);
    const run = await (
      await page.request.get(`${base}/api/v1/tenants/${CONTOSO.id}/operations/${runId}`)
    ).json();
    expect(run.source).toEqual({ type: 'restore_run', id: recordId });
  });

  it('every page is accessible, and usable at 1280 and 390 px without sideways scrolling', async () => {
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const { page, watch } = await newPage(viewport);
      await signIn(page, watch, base, owner, { rows: true });
      const tenant = new URL(page.url()).pathname.split('/')[2];
      const someRun = (await rowIds(page))[0]!;
      const pages: [string, string, () => Promise<unknown>][] = [
        ['operations', `/t/${tenant}/operations`, () => page.getByTestId('run-row').first().waitFor()],
        ['detail', `/t/${tenant}/operations/${someRun}`, () => page.getByTestId('run-detail').waitFor()],
        [
          'overview',
          `/t/${tenant}/overview?window=30d`,
          () => page.getByTestId('type-stats').first().waitFor(),
        ],
        [
          'inventory',
          `/t/${tenant}/inventory`,
          async () => {
            await page.getByTestId('last-inventory.sync').getByRole('link').waitFor();
            // The demo's nightly sync is listed on the page of the work it starts.
            await page
              .getByTestId('schedules-inventory.sync')
              .getByRole('cell', { name: 'nightly' })
              .waitFor();
          },
        ],
        ['drift', `/t/${tenant}/drift`, () => page.getByTestId('baselines').waitFor()],
        [
          'backups',
          `/t/${tenant}/backups`,
          async () => {
            await page.getByTestId('backup-sets').waitFor();
            await page
              .getByTestId('schedules-backup.create')
              .getByRole('cell', { name: 'weekly backup' })
              .waitFor();
          },
        ],
        ['restore', `/t/${tenant}/restore`, () => page.getByTestId('restore-history').waitFor()], // demo restores
      ];
      for (const [name, url, ready] of pages) {
        await watch.leave(() => page.goto(`${base}${url}`));
        await ready();
        await page.waitForLoadState('networkidle').catch(() => {});
        const [scrollWidth = 0, innerWidth = 0] = (await page.evaluate(
          '[document.documentElement.scrollWidth, window.innerWidth]',
        )) as number[];
        expect(scrollWidth, `${name} at ${viewport.width}px scrolls sideways`).toBeLessThanOrEqual(
          innerWidth,
        );
        if (viewport.width === 1280) await expectAccessible(page, name);
        if (SHOTS && ['operations', 'detail', 'overview'].includes(name)) {
          fs.mkdirSync(SHOTS, { recursive: true });
          await page.screenshot({ path: path.join(SHOTS, `${name}-${viewport.width}.png`) });
        }
      }
      // Keyboard: the first Tab stops are labelled controls with a visible focus ring.
      for (let i = 0; i < 6; i++) {
        await page.keyboard.press('Tab');
        const focused = (await page.evaluate(`(() => {
          const el = document.activeElement;
          const name = el.getAttribute('aria-label') || (el.labels && el.labels[0] && el.labels[0].textContent) || el.textContent;
          return { tag: el.tagName + ' ' + el.className, name: (name || '').trim(), outline: getComputedStyle(el).outlineStyle };
        })()`)) as { tag: string; name: string; outline: string };
        expect(focused.tag).not.toMatch(/^BODY/);
        expect(focused.name, focused.tag).not.toBe('');
        expect(focused.outline, focused.tag).not.toBe('none');
      }
    }
  });

  it("the run page shows the run's events as they are written: the throttling wait, then the completion", async () => {
    const { page, watch } = await newPage();
    await signIn(page, watch, base, cred(CONTOSO.name, 'viewer'), { rows: true });
    const simulator = await suite.connections.simulator();
    simulator.injectFault(CONTOSO.directoryId, 'deviceConfigurations', {
      kind: 'throttle',
      status: 429,
      retryAfterSeconds: 1,
      times: 1,
    });
    const { run } = await ledger.service.start({
      tenantId: CONTOSO.id,
      type: 'inventory.sync',
      inputs: { scope: ['deviceConfigurations'] },
      initiator: { kind: 'api', name: 'events check' },
    });
    await watch.leave(() => page.goto(`${base}/t/${CONTOSO.id}/operations/${run.id}`));
    const table = page.getByTestId('run-events');
    await table.locator('tr[data-kind="run.completed"]').waitFor({ timeout: 60_000 });
    const kinds = await table
      .locator('tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind')));
    expect(kinds).toEqual(['attempt.started', 'graph.throttled', 'progress', 'run.completed']);
    await expect
      .poll(() => table.locator('tr[data-kind="graph.throttled"]').textContent())
      .toMatch(/was throttled with HTTP 429; waiting 1000 ms/);
    // Errors only: nothing of this run was an error.
    await page.getByText('Errors', { exact: true }).click();
    await page.getByText('No events at this level.').waitFor();
    await expectAccessible(page, 'run detail with events');
  });

  it('no console error and no failed request on any page during these tests', () => {
    expect(watches.flatMap((w) => w.problems)).toEqual([]);
  });
});
