// Seeded policy data and per-tenant storage for the Graph simulator. Data is
// a pure function of (seed, directoryId, family) so the demo and tests see the
// same tenant every run, and two simulators with one seed agree exactly.

import { createHash, createHmac, randomUUID } from 'node:crypto';
import { POLICY_FAMILIES, type PolicyFamily } from './families.ts';

export type GraphPolicy = { id: string } & Record<string, unknown>;

type U32 = () => number;

// sfc32: tiny, fast and good enough for fixture data; crypto RNG per field
// would make 50k-item tenants noticeably slow to seed.
function seededRandom(...parts: (string | number)[]): U32 {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
}

function guid(next: U32): string {
  const hex = [next(), next(), next(), next()].map((n) => n.toString(16).padStart(8, '0')).join('');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const pick = <T>(next: U32, list: readonly T[]): T => list[next() % list.length]!;
const bool = (next: U32): boolean => (next() & 1) === 1;
const int = (next: U32, min: number, max: number): number => min + (next() % (max - min + 1));
const fraction = (next: U32): number => next() / 0x1_0000_0000;

interface FamilyTemplate {
  odataType: string;
  label: string;
  settings: (next: U32) => Record<string, unknown>;
}

export const FAMILY_TEMPLATES: Record<PolicyFamily, FamilyTemplate> = {
  deviceConfigurations: {
    odataType: '#microsoft.graph.windows10GeneralConfiguration',
    label: 'Windows device restrictions',
    settings: (n) => ({
      passwordRequired: bool(n),
      passwordMinimumLength: int(n, 4, 16),
      cameraBlocked: bool(n),
      screenCaptureBlocked: bool(n),
      defenderScanType: pick(n, ['userDefined', 'disabled', 'quick', 'full']),
      edgeHomeButtonConfiguration: { homeButtonCustomURL: `https://intranet.example/${int(n, 1, 999)}` },
    }),
  },
  compliancePolicies: {
    odataType: '#microsoft.graph.windows10CompliancePolicy',
    label: 'Windows compliance',
    settings: (n) => ({
      passwordRequired: bool(n),
      passwordExpirationDays: int(n, 30, 365),
      osMinimumVersion: `10.0.${pick(n, ['19045', '22621', '22631', '26100'])}`,
      bitLockerEnabled: bool(n),
      secureBootEnabled: bool(n),
      storageRequireEncryption: bool(n),
    }),
  },
  settingsCatalog: {
    odataType: '#microsoft.graph.deviceManagementConfigurationPolicy',
    label: 'Settings catalog profile',
    settings: (n) => ({
      platforms: pick(n, ['windows10', 'macOS', 'iOS']),
      technologies: pick(n, ['mdm', 'mdm,microsoftSense']),
      firewallEnabled: bool(n),
      realTimeMonitoring: bool(n),
      updateDeferralDays: int(n, 0, 30),
      settingCount: int(n, 1, 60),
    }),
  },
  appProtection: {
    odataType: '#microsoft.graph.iosManagedAppProtection',
    label: 'iOS app protection',
    settings: (n) => ({
      pinRequired: bool(n),
      minimumPinLength: int(n, 4, 8),
      dataBackupBlocked: bool(n),
      allowedOutboundDataTransferDestinations: pick(n, ['allApps', 'managedApps', 'none']),
      periodOfflineBeforeAccessCheck: pick(n, ['PT12H', 'PT24H', 'P3D']),
      maximumPinRetries: int(n, 3, 10),
    }),
  },
};

const DEPARTMENTS = ['Finance', 'HR', 'Sales', 'Engineering', 'Legal', 'Kiosk', 'Executives', 'Contractors'];
const EPOCH = Date.UTC(2024, 0, 1);
const DAY_MS = 86_400_000;

export function generatePolicies(
  seed: number,
  directoryId: string,
  family: PolicyFamily,
  count: number,
): GraphPolicy[] {
  const next = seededRandom('opsledger-sim', seed, directoryId, family);
  const t = FAMILY_TEMPLATES[family];
  const out: GraphPolicy[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const created = EPOCH + Math.floor(fraction(next) * 365 * DAY_MS);
    const modified = created + Math.floor(fraction(next) * 180 * DAY_MS);
    const dept = pick(next, DEPARTMENTS);
    out[i] = {
      '@odata.type': t.odataType,
      id: guid(next),
      displayName: `${t.label} - ${dept} ${String(i + 1).padStart(5, '0')}`,
      description: `Seeded ${t.label.toLowerCase()} for ${dept}`,
      createdDateTime: new Date(created).toISOString(),
      lastModifiedDateTime: new Date(modified).toISOString(),
      version: int(next, 1, 20),
      settings: t.settings(next),
    };
  }
  return out;
}

/**
 * The secret an auto-registered simulator tenant accepts; lets the demo log in without setup. The
 * key is the installation's own (derived from its root key), never a constant: anyone who could
 * compute a directory's secret could point their tenant's connection at it and back it up.
 */
export function deterministicSecret(key: Buffer, directoryId: string): string {
  return `sim~${createHmac('sha256', key).update(directoryId).digest('base64url')}`;
}

interface Entry {
  seq: number;
  policy: GraphPolicy;
}

export interface PageResult {
  items: GraphPolicy[];
  lastSeq: number;
  hasMore: boolean;
}

/**
 * One tenant's policies of one family, in insertion order. Pages are keyed by
 * a sequence number rather than an offset so that deletes between page
 * requests neither skip nor repeat items.
 */
export class FamilyStore {
  readonly odataType: string;
  #entries: Entry[] = [];
  #byId = new Map<string, Entry>();
  #nextSeq = 1;

  constructor(odataType: string, initial: GraphPolicy[] = []) {
    this.odataType = odataType;
    for (const p of initial) this.#append(p);
  }

  get size(): number {
    return this.#entries.length;
  }

  #append(policy: GraphPolicy): GraphPolicy {
    if (this.#byId.has(policy.id)) throw new Error(`duplicate policy id ${policy.id}`);
    const entry = { seq: this.#nextSeq++, policy };
    this.#entries.push(entry);
    this.#byId.set(policy.id, entry);
    return policy;
  }

  all(): GraphPolicy[] {
    return this.#entries.map((e) => structuredClone(e.policy));
  }

  get(id: string): GraphPolicy | undefined {
    const e = this.#byId.get(id);
    return e ? structuredClone(e.policy) : undefined;
  }

  /** Creates with a server-assigned id, as Graph does; a caller-supplied id is ignored. */
  create(input: Record<string, unknown>, now: Date): GraphPolicy {
    const stamp = now.toISOString();
    const policy: GraphPolicy = {
      '@odata.type': this.odataType,
      ...structuredClone(input),
      id: randomUUID(),
      createdDateTime: stamp,
      lastModifiedDateTime: stamp,
      version: 1,
    };
    return structuredClone(this.#append(policy));
  }

  /** Inserts as given (test fixtures), keeping a supplied id. */
  insert(input: Record<string, unknown>, now: Date): GraphPolicy {
    const stamp = now.toISOString();
    const policy: GraphPolicy = {
      '@odata.type': this.odataType,
      createdDateTime: stamp,
      lastModifiedDateTime: stamp,
      version: 1,
      ...structuredClone(input),
      id: typeof input.id === 'string' && input.id !== '' ? input.id : randomUUID(),
    };
    return structuredClone(this.#append(policy));
  }

  update(id: string, patch: Record<string, unknown>, now: Date): GraphPolicy | undefined {
    const e = this.#byId.get(id);
    if (!e) return undefined;
    const { id: _ignored, ...rest } = structuredClone(patch);
    const version = typeof e.policy.version === 'number' ? e.policy.version + 1 : 1;
    e.policy = { ...e.policy, ...rest, id, version, lastModifiedDateTime: now.toISOString() };
    return structuredClone(e.policy);
  }

  delete(id: string): boolean {
    const e = this.#byId.get(id);
    if (!e) return false;
    this.#byId.delete(id);
    const idx = this.#indexAfter(e.seq - 1);
    this.#entries.splice(idx, 1);
    return true;
  }

  page(afterSeq: number, top: number): PageResult {
    const start = this.#indexAfter(afterSeq);
    const slice = this.#entries.slice(start, start + top);
    const last = slice.at(-1);
    return {
      items: slice.map((e) => structuredClone(e.policy)),
      lastSeq: last ? last.seq : afterSeq,
      hasMore: start + top < this.#entries.length,
    };
  }

  // Entries are sorted by seq (append-only), so binary search finds a page start in O(log n).
  #indexAfter(seq: number): number {
    let lo = 0;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#entries[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export interface SimTenant {
  directoryId: string;
  /** Undefined for auto-registered tenants, which accept any client id. */
  clientId: string | undefined;
  clientSecret: string;
  counts: Record<PolicyFamily, number>;
  stores: Map<PolicyFamily, FamilyStore>;
}

export function newTenant(
  directoryId: string,
  clientId: string | undefined,
  clientSecret: string,
  defaultCount: number,
  overrides: Partial<Record<PolicyFamily, number>> = {},
): SimTenant {
  const counts = {} as Record<PolicyFamily, number>;
  for (const { family } of POLICY_FAMILIES) counts[family] = overrides[family] ?? defaultCount;
  return { directoryId, clientId, clientSecret, counts, stores: new Map() };
}

/** Seeds a family on first touch so registering many large tenants stays cheap. */
export function storeFor(tenant: SimTenant, family: PolicyFamily, seed: number): FamilyStore {
  let store = tenant.stores.get(family);
  if (!store) {
    const initial = generatePolicies(seed, tenant.directoryId, family, tenant.counts[family]);
    store = new FamilyStore(FAMILY_TEMPLATES[family].odataType, initial);
    tenant.stores.set(family, store);
  }
  return store;
}
