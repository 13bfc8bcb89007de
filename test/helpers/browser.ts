import fs from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's Chromium, when installed (or CHROMIUM_PATH): the browser the tests drive first. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The browser to drive: Debian's Chromium when it is installed, else the Chromium shipped inside
 * the `@sparticuz/chromium` npm package (a dev dependency, so `npm ci` brings it: no download of
 * a browser build), unpacked on first use. Never a silent skip: when neither can be had, this
 * throws one line naming what to install.
 */
export async function browserExecutable(): Promise<{ path: string; from: string }> {
  // TEST_BROWSER=packaged drives the packaged one even where Debian's is installed (as on a fresh machine).
  const packagedOnly = process.env.TEST_BROWSER === 'packaged';
  if (!packagedOnly && fs.existsSync(CHROMIUM))
    return { path: CHROMIUM, from: `Debian's Chromium (${CHROMIUM})` };
  if (process.env.CHROMIUM_PATH && !packagedOnly) {
    throw new Error(`CHROMIUM_PATH names ${CHROMIUM}, which does not exist`);
  }
  try {
    const { default: packaged } = await import('@sparticuz/chromium');
    return { path: await packaged.executablePath(), from: 'the Chromium of the @sparticuz/chromium package' };
  } catch (err) {
    throw new Error(
      `no browser for the UI tests: Debian's Chromium is not installed (apt-get install -y chromium) and @sparticuz/chromium could not be unpacked (${(err as Error).message}); run npm ci`,
    );
  }
}

let announced = false;

export async function launchChromium(): Promise<Browser> {
  const browser = await browserExecutable();
  if (!announced) {
    announced = true;
    console.log(`[browser] ${browser.from}`);
  }
  return chromium.launch({
    executablePath: browser.path,
    // The packaged build has no zygote helper of its own to sandbox with.
    args: browser.path === CHROMIUM ? ARGS : [...ARGS, '--no-zygote'],
  });
}

/**
 * Every console error and every failed or refused request of a page. Requests the browser aborts
 * because the page itself is leaving (a reload, a typed URL, closing the tab: the live stream and
 * any read still in flight) are expected and are not counted.
 */
export class PageWatch {
  readonly problems: string[] = [];
  readonly page: Page;
  #leaving = false;
  #expected: string[] = [];

  constructor(page: Page) {
    this.page = page;
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (this.#expected.some((u) => m.location().url.includes(u))) return;
      this.problems.push(`console error on ${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => this.problems.push(`page error on ${page.url()}: ${err.message}`));
    page.on('requestfailed', (r) => {
      const aborted = r.failure()?.errorText === 'net::ERR_ABORTED';
      // An event stream closed by the page (leaving a run, switching tenant) ends as an abort.
      if (aborted && (this.#leaving || /\/(operations|events)\/stream$/.test(new URL(r.url()).pathname)))
        return;
      this.problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on('response', (r) => {
      if (r.status() === 404 && this.#expected.some((u) => r.url().includes(u))) return;
      if (r.status() >= 400) this.problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
  }

  /** A 404 the test provokes on purpose (opening an unknown or foreign run): not a failure. */
  expectNotFound(urlPart: string) {
    this.#expected.push(urlPart);
  }

  /** A navigation the test makes on purpose (goto, reload): what it aborts is not a failure. */
  async leave<T>(fn: () => Promise<T>): Promise<T> {
    this.#leaving = true;
    try {
      return await fn();
    } finally {
      this.#leaving = false;
    }
  }

  async close() {
    await this.leave(() => this.page.close());
  }
}

/** axe-core's serious and critical violations of the page as it is now (WCAG 2.1 A and AA). */
export async function seriousViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page: page as never })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
    .analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')}`,
    );
}

/**
 * Signs in through the sign-in page, as a person does, and waits for the tenant's Operations page
 * (with its first row when `rows` is set). `base` is the server's URL.
 */
export async function signIn(
  page: Page,
  watch: PageWatch,
  base: string,
  who: { email: string; password: string },
  opts: { rows?: boolean } = {},
): Promise<void> {
  await watch.leave(() => page.goto(`${base}/`));
  await page.waitForURL(/\/sign-in/);
  await page.getByLabel('Email').fill(who.email);
  await page.getByRole('textbox', { name: 'Password' }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/t\/[0-9a-f-]+\/operations/);
  if (opts.rows) await page.getByTestId('run-row').first().waitFor();
}

/** An item of the account menu (the display name when wide, "Account" when narrow), then its page. */
export async function openAccountMenu(page: Page, displayName: string, item: string, heading: string) {
  await page.getByRole('button', { name: new RegExp(`^(${displayName}|Account)$`) }).click();
  await page.getByRole('menuitem', { name: item }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}
