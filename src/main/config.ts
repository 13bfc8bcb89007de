import net from 'node:net';
import path from 'node:path';
import { parseSecretKey } from '../shared/secret-key.ts';

/** Validated configuration. Built once at start-up; every consumer gets this object passed in. */
export type Config = {
  databaseUrl: string | null;
  /**
   * PostgreSQL itself, when DATABASE_URL points at a transaction-mode pooler (PgBouncer): the
   * queue (pg-boss) and the change feed's LISTEN connect here. Null: they use DATABASE_URL.
   */
  databaseDirectUrl: string | null;
  /** A streaming replica of DATABASE_URL for monitoring reads; PostgreSQL only. */
  databaseReadUrl: string | null;
  /** How far behind (seconds) the replica may be before its reads go to the primary. */
  databaseReadMaxLagSeconds: number;
  dataDir: string;
  port: number;
  /**
   * `opsledger worker`'s own port for /healthz, /readyz and /metrics (WORKER_PORT); null: none.
   * 0 picks a free port.
   */
  workerPort: number | null;
  host: string;
  retentionDays: number;
  staleRunSeconds: number;
  /** Seconds between passes of the mirror check (records of other writers against their runs). */
  mirrorCheckSeconds: number;
  tenantConcurrency: number;
  /** Raw key text; parsed where it is used so a missing key is only an error where it is needed. */
  secretKey: string | null;
  legacyWrites: boolean;
  graphUrl: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * Behind reverse proxies: false, how many proxies (hops) stand in front, or the addresses and
   * CIDR ranges of the trusted proxies. The client address is the rightmost X-Forwarded-For entry
   * not added by a trusted hop: never the leftmost, which the client writes itself.
   */
  trustProxy: false | number | string[];
  /** `/metrics`: off, open to anyone who reaches the port, or only with `Authorization: Bearer <token>`. */
  metrics: { mode: 'off' } | { mode: 'open' } | { mode: 'token'; token: string };
  /** The built-in Graph simulator; refused under NODE_ENV=production unless ALLOW_SIMULATOR=true. */
  allowSimulator: boolean;
  /** On SIGTERM, how long requests and runs in flight may take to finish before they are cut. */
  shutdownGraceSeconds: number;
  /**
   * Alert webhooks may target loopback and private addresses (a receiver inside the installation's
   * own network, a test). Off by default: a tenant owner must not reach into the server's network.
   */
  webhookAllowPrivate: boolean;
  /** Seconds before the first retry of a failed webhook delivery; each further retry waits twice as long. */
  webhookRetrySeconds: number;
  /** API token lifetime in days: given to a token made without one, and the most one may ask for. */
  tokenDefaultDays: number;
  tokenMaxDays: number;
  /** Days an invitation to a tenant stays open. */
  invitationDays: number;
  production: boolean;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** Each bad variable's problem (one when thrown for a single variable). */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function boolVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function databaseUrlVar(env: Env, name = 'DATABASE_URL'): string | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Never echo the value: it may carry a password.
    throw new ConfigError(`${name} is not a valid URL (expected postgres://user@host:port/database)`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`${name} must use postgres:// or postgresql://, got ${url.protocol}//`);
  }
  return raw;
}

function workerPortVar(env: Env): number | null {
  const raw = env.WORKER_PORT?.trim().toLowerCase();
  if (!raw || raw === 'off') return null;
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) {
    throw new ConfigError(`WORKER_PORT must be off or a port from 0 to 65535, got "${env.WORKER_PORT}"`);
  }
  return Number(raw);
}

function graphUrlVar(env: Env): string {
  const raw = env.GRAPH_URL?.trim();
  if (!raw || raw === 'simulator') return 'simulator';
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new ConfigError('GRAPH_URL must be "simulator" or an http(s) URL');
  }
  return raw.replace(/\/+$/, '');
}

function trustProxyVar(env: Env): Config['trustProxy'] {
  const raw = env.TRUST_PROXY?.trim() ?? '';
  const v = raw.toLowerCase();
  if (v === '' || ['false', '0', 'no', 'off'].includes(v)) return false;
  // `true` means the usual single proxy in front: trusting every hop would let a client choose
  // its own address by writing the leftmost X-Forwarded-For entry.
  if (['true', 'yes', 'on'].includes(v)) return 1;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops > 10) throw new ConfigError(`TRUST_PROXY hop count must be between 0 and 10, got ${hops}`);
    return hops;
  }
  const list = raw.split(',').map((x) => x.trim());
  for (const entry of list) {
    const [addr, bits, ...rest] = entry.split('/');
    const family = net.isIP(addr ?? '');
    const max = family === 6 ? 128 : 32;
    if (!family || rest.length > 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
      throw new ConfigError(
        'TRUST_PROXY must be false, true, a hop count (0–10) or a comma-separated list of proxy addresses or CIDR ranges',
      );
    }
  }
  return list;
}

function metricsVar(env: Env, production: boolean): Config['metrics'] {
  const raw = env.METRICS?.trim() ?? '';
  // Counts of every tenant: in production they are served only when asked for.
  if (raw === '') return production ? { mode: 'off' } : { mode: 'open' };
  if (raw === 'open') return { mode: 'open' };
  if (raw === 'off') return { mode: 'off' };
  if (raw.startsWith('token:')) {
    const token = raw.slice('token:'.length);
    if (token.length < 16 || token.length > 256 || /\s/.test(token)) {
      throw new ConfigError('METRICS token must have 16–256 characters and no spaces');
    }
    return { mode: 'token', token };
  }
  throw new ConfigError('METRICS must be off, open or token:<secret of 16+ characters>');
}

/**
 * Reads and checks the configuration. Every bad variable is reported at once: the error's message
 * lists them all (one per `; `), and `problems` holds them one by one.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const problems: string[] = [];
  /** One variable's value, or its fallback with the problem noted. */
  function check<T>(read: () => T, fallback: T): T {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
      return fallback;
    }
  }
  const logLevel = check(() => {
    const level = (env.LOG_LEVEL?.trim() || 'info') as Config['logLevel'];
    if (!LOG_LEVELS.includes(level)) {
      throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
    }
    return level;
  }, 'info');
  const production = env.NODE_ENV === 'production';
  const secretKey = env.SECRET_KEY?.trim() || null;
  if (secretKey !== null && parseSecretKey(secretKey) === null) {
    problems.push('SECRET_KEY must be 64 hex characters or base64 of 32 bytes');
  }
  const databaseUrl = check(() => databaseUrlVar(env), null);
  const databaseDirectUrl = check(() => databaseUrlVar(env, 'DATABASE_DIRECT_URL'), null);
  if (databaseDirectUrl && !databaseUrl && !env.DATABASE_URL?.trim()) {
    problems.push('DATABASE_DIRECT_URL needs DATABASE_URL: the embedded database has no pooler to bypass');
  }
  const databaseReadUrl = check(() => databaseUrlVar(env, 'DATABASE_READ_URL'), null);
  if (databaseReadUrl && !databaseUrl && !env.DATABASE_URL?.trim()) {
    problems.push(
      'DATABASE_READ_URL needs DATABASE_URL: the embedded database has no replica (set DATABASE_URL to the primary)',
    );
  }
  if (production && !secretKey) problems.push('SECRET_KEY is required when NODE_ENV=production');
  const graphChecked = check<string | null>(() => graphUrlVar(env), null);
  const graphUrl = graphChecked ?? 'simulator';
  const allowSimulator = check(() => boolVar(env, 'ALLOW_SIMULATOR', !production), !production);
  if (production && graphChecked === 'simulator' && !allowSimulator) {
    problems.push(
      'GRAPH_URL must name the real Graph API when NODE_ENV=production (or set ALLOW_SIMULATOR=true)',
    );
  }
  const tokenMaxDays = check(() => intVar(env, 'TOKEN_MAX_DAYS', 365, 1, 3650), 365);
  const tokenDefaultDays = check(
    () => {
      const days = intVar(env, 'TOKEN_DEFAULT_DAYS', Math.min(90, tokenMaxDays), 1, 3650);
      if (days > tokenMaxDays) {
        throw new ConfigError(
          `TOKEN_DEFAULT_DAYS (${days}) must not exceed TOKEN_MAX_DAYS (${tokenMaxDays})`,
        );
      }
      return days;
    },
    Math.min(90, tokenMaxDays),
  );
  const int = (name: string, fallback: number, min: number, max: number) =>
    check(() => intVar(env, name, fallback, min, max), fallback);
  const config: Config = {
    databaseUrl,
    databaseDirectUrl,
    databaseReadUrl,
    databaseReadMaxLagSeconds: int('DATABASE_READ_MAX_LAG_SECONDS', 10, 1, 3600),
    dataDir: path.resolve(cwd, env.DATA_DIR?.trim() || './.data'),
    port: int('PORT', 3000, 0, 65535),
    workerPort: check(() => workerPortVar(env), null),
    host: env.HOST?.trim() || '127.0.0.1',
    retentionDays: int('RETENTION_DAYS', 90, 1, 36500),
    staleRunSeconds: int('STALE_RUN_SECONDS', 120, 5, 86400),
    mirrorCheckSeconds: int('MIRROR_CHECK_SECONDS', 60, 1, 86400),
    tenantConcurrency: int('TENANT_CONCURRENCY', 4, 1, 256),
    secretKey,
    legacyWrites: check(() => boolVar(env, 'LEGACY_WRITES', true), true),
    graphUrl,
    logLevel,
    trustProxy: check(() => trustProxyVar(env), false),
    metrics: check(() => metricsVar(env, production), { mode: 'off' }),
    allowSimulator,
    shutdownGraceSeconds: int('SHUTDOWN_GRACE_SECONDS', 10, 0, 3600),
    webhookAllowPrivate: check(() => boolVar(env, 'WEBHOOK_ALLOW_PRIVATE', false), false),
    webhookRetrySeconds: int('WEBHOOK_RETRY_SECONDS', 30, 1, 3600),
    tokenDefaultDays,
    tokenMaxDays,
    invitationDays: int('INVITATION_DAYS', 7, 1, 90),
    production,
  };
  if (problems.length > 0) throw new ConfigError(problems.join('; '), problems);
  return config;
}

/** A database URL as a log may show it: scheme, host, port and database, never the user or password. */
function urlWithoutCredentials(raw: string | null): string | null {
  if (!raw) return null;
  try {
    const url = new URL(raw);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return 'invalid';
  }
}

/**
 * The configuration as the start-up log line shows it: every setting an operator may need to
 * confirm, no secret (SECRET_KEY and the metrics token only as set or not, URLs without credentials).
 */
export function describeConfig(config: Config) {
  return {
    database: config.databaseUrl ? urlWithoutCredentials(config.databaseUrl) : `embedded (${config.dataDir})`,
    databaseDirect: urlWithoutCredentials(config.databaseDirectUrl),
    databaseRead: urlWithoutCredentials(config.databaseReadUrl),
    host: config.host,
    port: config.port,
    logLevel: config.logLevel,
    production: config.production,
    secretKey: config.secretKey ? 'set' : 'unset (a key in the data directory)',
    trustProxy: config.trustProxy,
    metrics: config.metrics.mode,
    graph: config.graphUrl === 'simulator' ? 'simulator' : new URL(config.graphUrl).host,
    retentionDays: config.retentionDays,
    staleRunSeconds: config.staleRunSeconds,
    tenantConcurrency: config.tenantConcurrency,
    legacyWrites: config.legacyWrites,
    shutdownGraceSeconds: config.shutdownGraceSeconds,
  };
}
