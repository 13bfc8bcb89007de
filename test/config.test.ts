import { spawnSync } from 'node:child_process';
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { CatalogError, OperationCatalog, type OperationTypeDefinition } from '../src/ledger/catalog.ts';
import { ConfigError, loadConfig } from '../src/main/config.ts';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({}, '/srv/app');
    expect(c).toMatchObject({
      databaseUrl: null,
      dataDir: '/srv/app/.data',
      port: 3000,
      workerPort: null,
      host: '127.0.0.1',
      retentionDays: 90,
      staleRunSeconds: 120,
      mirrorCheckSeconds: 60,
      tenantConcurrency: 4,
      secretKey: null,
      legacyWrites: true,
      graphUrl: 'simulator',
      logLevel: 'info',
      trustProxy: false,
      tokenDefaultDays: 90,
      tokenMaxDays: 365,
      invitationDays: 7,
    });
  });

  it('token lifetimes: the default follows a lower maximum, and may not exceed it', () => {
    expect(loadConfig({ TOKEN_MAX_DAYS: '30' })).toMatchObject({ tokenDefaultDays: 30, tokenMaxDays: 30 });
    expect(loadConfig({ TOKEN_DEFAULT_DAYS: '7', TOKEN_MAX_DAYS: '30' })).toMatchObject({
      tokenDefaultDays: 7,
      tokenMaxDays: 30,
    });
    expect(() => loadConfig({ TOKEN_DEFAULT_DAYS: '100', TOKEN_MAX_DAYS: '30' })).toThrow(
      'TOKEN_DEFAULT_DAYS (100) must not exceed TOKEN_MAX_DAYS (30)',
    );
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT must be a whole number/],
    [{ PORT: '70000' }, /PORT must be between/],
    [{ WORKER_PORT: '70000' }, /WORKER_PORT must be off or a port from 0 to 65535/],
    [{ WORKER_PORT: 'metrics' }, /WORKER_PORT must be off or a port from 0 to 65535, got "metrics"/],
    [{ RETENTION_DAYS: '0' }, /RETENTION_DAYS/],
    [{ TENANT_CONCURRENCY: '-1' }, /TENANT_CONCURRENCY/],
    [{ LEGACY_WRITES: 'maybe' }, /LEGACY_WRITES must be true or false/],
    [{ TRUST_PROXY: 'sometimes' }, /TRUST_PROXY must be false, true, a hop count/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ DATABASE_URL: 'mysql://u:p@h/db' }, /DATABASE_URL must use postgres/],
    [
      { DATABASE_URL: 'postgres://h/db', DATABASE_DIRECT_URL: 'mysql://u:p@h/db' },
      /DATABASE_DIRECT_URL must use postgres/,
    ],
    [{ DATABASE_DIRECT_URL: 'postgres://h/db' }, /DATABASE_DIRECT_URL needs DATABASE_URL/],
    [{ GRAPH_URL: 'ftp://x' }, /GRAPH_URL/],
    [{ SECRET_KEY: 'short' }, /SECRET_KEY must be/],
    [{ NODE_ENV: 'production' }, /SECRET_KEY is required/],
    [{ TOKEN_DEFAULT_DAYS: '0' }, /TOKEN_DEFAULT_DAYS must be between 1 and 3650/],
    [{ TOKEN_MAX_DAYS: 'forever' }, /TOKEN_MAX_DAYS must be a whole number/],
    [{ INVITATION_DAYS: '91' }, /INVITATION_DAYS must be between 1 and 90/],
  ])('rejects %o with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('takes the worker’s own port, off when unset or "off"', () => {
    expect(loadConfig({ WORKER_PORT: '3001' }).workerPort).toBe(3001);
    expect(loadConfig({ WORKER_PORT: '0' }).workerPort).toBe(0);
    expect(loadConfig({ WORKER_PORT: 'off' }).workerPort).toBeNull();
    expect(loadConfig({ WORKER_PORT: '' }).workerPort).toBeNull();
  });

  it.each(['DATABASE_URL', 'DATABASE_DIRECT_URL'])('never echoes a %s password in its error', (name) => {
    for (const url of ['postgres://u:hunter2@', 'not a url hunter2', 'mysql://u:hunter2@db/x']) {
      let message = '';
      try {
        loadConfig({ DATABASE_URL: 'postgres://127.0.0.1/db', [name]: url });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = String(err);
      }
      expect(message).toMatch(new RegExp(name));
      expect(message).not.toContain('hunter2');
    }
  });

  it('takes a read replica only beside DATABASE_URL, and never echoes its password', () => {
    const primary = 'postgres://app@db-primary:5432/ops';
    expect(loadConfig({})).toMatchObject({ databaseReadUrl: null, databaseReadMaxLagSeconds: 10 });
    expect(
      loadConfig({
        DATABASE_URL: primary,
        DATABASE_READ_URL: 'postgres://app@db-replica:5432/ops',
        DATABASE_READ_MAX_LAG_SECONDS: '30',
      }),
    ).toMatchObject({ databaseReadUrl: 'postgres://app@db-replica:5432/ops', databaseReadMaxLagSeconds: 30 });
    expect(() => loadConfig({ DATABASE_READ_URL: 'postgres://app@db-replica/ops' })).toThrow(
      /DATABASE_READ_URL needs DATABASE_URL: the embedded database has no replica/,
    );
    expect(() => loadConfig({ DATABASE_URL: primary, DATABASE_READ_MAX_LAG_SECONDS: '0' })).toThrow(
      /DATABASE_READ_MAX_LAG_SECONDS must be between 1 and 3600/,
    );
    for (const url of ['postgres://u:hunter2@', 'not a url hunter2', 'mysql://u:hunter2@db/x']) {
      let message = '';
      try {
        loadConfig({ DATABASE_URL: primary, DATABASE_READ_URL: url });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = String(err);
      }
      expect(message).toMatch(/DATABASE_READ_URL/);
      expect(message).not.toContain('hunter2');
    }
  });

  it('reports every bad variable at once, not only the first', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'x', LOG_LEVEL: 'loud', METRICS: 'maybe', TRUST_PROXY: '99', SECRET_KEY: 'short' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    for (const name of ['PORT', 'LOG_LEVEL', 'METRICS', 'TRUST_PROXY', 'SECRET_KEY'])
      expect(
        problems.some((p) => p.startsWith(name)),
        name,
      ).toBe(true);
    expect((error as Error).message).toBe(problems.join('; '));
  });

  it('a bad value stops the command with one line and a non-zero exit', () => {
    const r = spawnSync(process.execPath, ['bin/opsledger.js', 'migrate'], {
      env: { ...process.env, DATABASE_URL: '', PORT: 'abc' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      'opsledger: configuration error: PORT must be a whole number between 0 and 65535, got "abc"',
    ]);
  });
});

const base: OperationTypeDefinition = {
  name: 'demo.op',
  label: 'Demo',
  inputSchema: Type.Object({ scope: Type.String() }),
  identityKeys: ['scope'],
  countKeys: ['done'],
  timeoutSeconds: 60,
  maxAttempts: 2,
  handler: async () => undefined,
};

describe('operation type catalog, checked at boot', () => {
  it('refuses a type registered twice, one without a handler, and an identity key that is not an input', () => {
    expect(() => new OperationCatalog([base, { ...base }])).toThrow(CatalogError);
    expect(() => new OperationCatalog([{ ...base, handler: undefined as never }])).toThrow(/has no handler/);
    expect(() => new OperationCatalog([{ ...base, identityKeys: ['nope'] }])).toThrow(/identity key "nope"/);
    expect(() => new OperationCatalog([{ ...base, name: 'NoDots' }])).toThrow(/not valid/);
    expect(() => new OperationCatalog([{ ...base, maxAttempts: 0 }])).toThrow(/maxAttempts/);
  });

  it('applies defaults and reports field problems with paths', () => {
    const catalog = new OperationCatalog([
      {
        ...base,
        inputSchema: Type.Object({ scope: Type.String({ default: 'all' }), n: Type.Integer({ minimum: 1 }) }),
      },
    ]);
    expect(catalog.parseInputs('demo.op', { n: 2 })).toEqual({ scope: 'all', n: 2 });
    expect(() => catalog.parseInputs('demo.op', { n: 0 })).toThrow(
      expect.objectContaining({ errors: [expect.objectContaining({ path: '/inputs/n' })] }),
    );
    expect(() => catalog.parseInputs('demo.op', [])).toThrow(/must be an object/);
  });
});
