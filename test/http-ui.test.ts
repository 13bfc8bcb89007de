import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildHttpApp, type HttpApp } from '../src/http/app.ts';
import { loadConfig } from '../src/main/config.ts';
import { createLogger } from '../src/shared/logger.ts';

// Static serving needs no database: the app is built with stand-in services nobody calls (the
// sign-in routes ask for their attempt limiter while being registered: a stand-in too).
const unused = new Proxy(
  {},
  {
    get(_t, key) {
      if (key === 'then') return undefined;
      throw new Error(`not used here (touched ${String(key)})`);
    },
  },
) as never;
const apps: HttpApp[] = [];
const dirs: string[] = [];

async function appWith(dir: string) {
  const app = await buildHttpApp(
    {
      config: loadConfig({ LOG_LEVEL: 'silent' }),
      logger: createLogger({ level: 'silent' }),
      catalog: unused,
      runs: unused,
      access: unused,
      credentials: { attemptLimiter: () => unused } as never,
      hub: { close: async () => {} } as never,
      metrics: { install: () => {} } as never,
      readiness: unused,
    },
    { ui: { dir } },
  );
  apps.push(app);
  return app;
}

afterAll(async () => {
  for (const a of apps) await a.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const html = { accept: 'text/html,application/xhtml+xml' };

describe('the built UI', () => {
  it('index.html (never cached) for client routes; hashed assets cached a year; API paths stay problem JSON', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-ui-'));
    dirs.push(dir);
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(
      path.join(dir, 'index.html'),
      '<!doctype html><script type="module" src="/assets/app-1a2b.js"></script>',
    );
    fs.writeFileSync(path.join(dir, 'assets', 'app-1a2b.js'), 'export {};');
    const app = await appWith(dir);
    for (const url of ['/', '/sign-in', '/t/x/operations/y?status=queued']) {
      const res = await app.inject({ url, headers: html });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toMatch(/script-src 'self'/);
      expect(res.body).toContain('/assets/app-1a2b.js');
    }
    const asset = await app.inject({ url: '/assets/app-1a2b.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    // No way out of the assets folder.
    fs.writeFileSync(path.join(dir, 'outside.txt'), 'not an asset');
    for (const url of [
      '/assets/%2e%2e/outside.txt',
      '/assets/..%2foutside.txt',
      '/assets/%2e%2e%2foutside.txt',
    ]) {
      const res = await app.inject({ url });
      expect(res.body, url).not.toContain('not an asset');
    }
    for (const url of ['/api/v1/nope', '/api/nope', '/assets/missing.js']) {
      const res = await app.inject({ url, headers: html });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/);
    }
    // The root is the page whatever the client accepts (curl sends */*); a deeper path asked for
    // without HTML gets the API's 404, not the page.
    const root = await app.inject({ url: '/', headers: { accept: '*/*' } });
    expect(root.statusCode).toBe(200);
    expect(root.headers['content-type']).toMatch(/^text\/html/);
    const json = await app.inject({ url: '/t/x/operations' });
    expect(json.statusCode).toBe(404);
    expect(json.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('without a build, / says how to build the UI instead of a bare 404', async () => {
    const app = await appWith(path.join(os.tmpdir(), 'opsledger-no-such-ui'));
    const res = await app.inject({ url: '/', headers: html });
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('npm run build:web');
  });
});
