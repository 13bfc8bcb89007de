// compose.yaml as docs/deploying.md uses it, checked structurally (Debian's podman-compose 1.0.3
// has no `config` to render it with): the services, their order (health checks wired into
// depends_on), secrets only from environment files, and the example environment files accepted by
// the configuration.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/main/config.ts';

type Service = {
  image?: string;
  command?: string[];
  profiles?: string[];
  env_file?: string[];
  environment?: Record<string, string>;
  restart?: string;
  stop_grace_period?: string;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string; required?: boolean }>;
  deploy?: { replicas?: string | number };
  ports?: string[];
};

const text = fs.readFileSync('compose.yaml', 'utf8');
const compose = parse(text, { merge: true }) as { services: Record<string, Service>; volumes: object };
const services = compose.services;
const envFile = (name: string) =>
  Object.fromEntries(
    fs
      .readFileSync(path.join('deploy/compose', `${name}.env.example`), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
const seconds = (s: string) => Number(/^(\d+)s$/.exec(s)?.[1] ?? Number.NaN);

describe('compose.yaml', () => {
  it('has PostgreSQL 15+, a one-shot migrate, serve, worker and PgBouncer behind a profile', () => {
    expect(Object.keys(services).sort()).toEqual(['migrate', 'pgbouncer', 'postgres', 'serve', 'worker']);
    const major = Number(/postgres:(\d+)/.exec(services.postgres!.image!)?.[1]);
    expect(major).toBeGreaterThanOrEqual(15);
    expect(services.pgbouncer!.profiles).toEqual(['pgbouncer']);
    expect(services.pgbouncer!.environment?.POOL_MODE).toBe('transaction');
    expect(services.migrate!.command).toEqual(['migrate']);
    expect(services.migrate!.restart).toBe('no');
    expect(services.serve!.command).toEqual(['serve']);
    expect(services.worker!.command).toEqual(['worker']);
    for (const name of ['serve', 'worker']) {
      expect(services[name]!.deploy?.replicas, name).toMatch(/^\$\{\w+_REPLICAS:-\d+\}$/);
    }
    for (const name of ['migrate', 'serve', 'worker']) {
      expect(services[name]!.image).toBe(`\${OPSLEDGER_IMAGE:-localhost/opsledger:latest}`);
    }
  });

  it('starts serve and worker only after PostgreSQL is healthy and migrate has succeeded', () => {
    expect(services.postgres!.healthcheck?.test?.join(' ')).toContain('pg_isready');
    expect(services.migrate!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of ['serve', 'worker']) {
      const s = services[name]!;
      expect(s.depends_on?.postgres).toEqual({ condition: 'service_healthy' });
      expect(s.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
      expect(s.depends_on?.pgbouncer).toEqual({ condition: 'service_started', required: false });
      // The image's own health check: /readyz on the server's or the worker's port.
      expect(s.healthcheck?.test).toEqual(['CMD', '/usr/local/bin/node', '/app/healthcheck.js']);
    }
    expect(fs.readFileSync('Containerfile', 'utf8')).toContain(
      'CMD ["/usr/local/bin/node", "/app/healthcheck.js"]',
    );
  });

  it('takes secrets from environment files only, and stops within the grace the files set', () => {
    expect(text).not.toMatch(/SECRET_KEY\s*[:=]/);
    expect(text).not.toMatch(/PASSWORD\s*[:=]/);
    expect(text).not.toMatch(/postgres(ql)?:\/\/[^$\s]*:[^@\s]*@/);
    for (const name of ['migrate', 'serve', 'worker']) {
      expect(services[name]!.env_file).toEqual(['./opsledger.env']);
    }
    expect(services.postgres!.env_file).toEqual(['./postgres.env']);
    const env = envFile('opsledger');
    const grace = Number(env.SHUTDOWN_GRACE_SECONDS);
    for (const name of ['serve', 'worker']) {
      expect(seconds(services[name]!.stop_grace_period!)).toBeGreaterThan(grace);
    }
  });

  it('the example environment files are accepted by the configuration once the secrets are filled in', () => {
    const env = envFile('opsledger');
    expect(env.SECRET_KEY).toBe('');
    expect(() => loadConfig(env)).toThrow(/SECRET_KEY is required when NODE_ENV=production/);
    const config = loadConfig({ ...env, SECRET_KEY: 'c'.repeat(64) });
    expect(config).toMatchObject({
      production: true,
      workerPort: 3001,
      shutdownGraceSeconds: 30,
      metrics: { mode: 'off' },
      trustProxy: 1,
      graphUrl: 'https://graph.microsoft.com',
    });
    expect(new URL(config.databaseUrl!).host).toBe('postgres:5432');
    expect(new URL(config.databaseDirectUrl!).host).toBe('postgres:5432');
    const password = envFile('postgres').POSTGRES_PASSWORD!;
    expect(decodeURIComponent(new URL(config.databaseUrl!).password)).toBe(password);
    expect(envFile('pgbouncer').DATABASE_URL).toBe(env.DATABASE_DIRECT_URL);
  });
});
