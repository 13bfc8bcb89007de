import { buildHttpApp } from '../http/app.ts';
import { createLogger } from '../shared/logger.ts';
import { loadConfig } from './config.ts';

/**
 * The API's OpenAPI document, from the real route definitions with every optional route family
 * wired, and no database: building the app registers routes and schemas but calls no service, so
 * each service here is a stand-in that fails loudly if anything did.
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const unused = new Proxy(
    {},
    {
      get(_t, key) {
        if (key === 'then') return undefined;
        throw new Error(`the OpenAPI document is built without services (touched ${String(key)})`);
      },
    },
  ) as never;
  // The sign-in and password routes make their attempt limiters when they are registered; a
  // limiter that is never asked anything touches no database.
  const credentials = { attemptLimiter: () => unused } as never;
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const app = await buildHttpApp(
    {
      config,
      logger: createLogger({ level: 'silent' }),
      catalog: unused,
      runs: unused,
      schedules: unused,
      access: unused,
      credentials,
      hub: { close: async () => {} } as never,
      metrics: { install: () => {} } as never,
      readiness: unused,
      restoreRuns: unused,
      graphConnections: unused,
      suiteReads: unused,
    },
    { ui: false },
  );
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}
