import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where `npm run build:web` (run by `npm ci` and `npm start`) writes the UI. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../web/dist', import.meta.url));

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Opsledger: the web UI is not built</title></head>
<body><main><h1>The web UI is not built</h1>
<p>The API is up under <a href="/api/v1/openapi.json">/api/v1</a>. To build the UI, run
<code>npm run build:web</code> (it also runs as part of <code>npm ci</code> and <code>npm start</code>),
then reload this page.</p></main></body></html>
`;

function wantsPage(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const pathname = request.url.split('?')[0]!;
  if (pathname === '/api' || pathname.startsWith('/api/') || pathname.startsWith('/assets/')) return false;
  // The root is always the page, whatever the client accepts (curl, health checkers, link previews);
  // deeper client routes are the page only for a client that asks for HTML.
  if (pathname === '/') return true;
  const accept = request.headers.accept ?? '';
  return accept.includes('text/html');
}

/**
 * The built single-page app: hashed files under /assets/ cached for a year, and index.html (never
 * cached) for every other GET that asks for a page, so client routes survive a reload. API paths
 * are never answered with the page: an unknown /api/… stays a problem-JSON 404.
 */
export async function installUi(app: FastifyInstance, options: { dir?: string } = {}) {
  const dir = options.dir ?? DEFAULT_UI_DIR;
  const indexFile = path.join(dir, 'index.html');
  const assets = path.join(dir, 'assets');
  const built = fs.existsSync(indexFile) && fs.existsSync(assets);
  if (built) {
    await app.register(fastifyStatic, {
      root: assets,
      serve: false,
      index: false,
      list: false,
      dotfiles: 'deny',
      cacheControl: false,
      etag: true,
      lastModified: false,
      setHeaders: (reply) => reply.header('cache-control', 'public, max-age=31536000, immutable'),
    });
    // A route of our own rather than the plugin's: it must be declared public to the auth gate.
    app.get('/assets/*', { config: { auth: 'public' }, schema: { hide: true } }, (request, reply) =>
      reply.sendFile((request.params as { '*': string })['*']),
    );
  }
  // Read per request (it is small): a rebuild while the server runs is served at once.
  const send = async (reply: FastifyReply) => {
    const page = built ? await fs.promises.readFile(indexFile, 'utf8').catch(() => NOT_BUILT) : NOT_BUILT;
    return reply
      .code(page === NOT_BUILT ? 503 : 200)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(page);
  };
  // The page for client routes is served before routing gives up (no route matched), so the one
  // not-found handler keeps answering problem JSON for everything else.
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url !== undefined) return;
    if (!wantsPage(request)) return;
    return send(reply);
  });
}
