import type { Static, TSchema } from 'typebox';
import Value from 'typebox/value';
import type { Trx } from '../db/database.ts';
import { type FieldProblem, ValidationError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { RunLog } from '../shared/run-log.ts';
import type { MirrorCheckReport } from './mirror.ts';
import type { FailureEntry, RunRow } from './run.ts';

/** What a handler is given for one attempt of one run. */
export type OperationContext<I> = {
  run: { id: string; tenantId: string; type: string; attempt: number; maxAttempts: number };
  inputs: I;
  /** Fires when the run is cancelled or the worker shuts down; stop promptly when it does. */
  signal: AbortSignal;
  /** Sets the run's counters (absolute values; declared count keys only). */
  progress(counts: Record<string, number>): Promise<void>;
  /** The process log (operators of the installation read it). */
  logger: Logger;
  /**
   * The run's event log (operators of the tenant read it on the run page): `log.info/warn/error`,
   * `log.milestone` for progress, `log.event(kind, level, …)` for a named kind such as
   * `item.failed`. Redacted and bounded before it is stored; never throws, never waits.
   */
  log: RunLog;
};

export type OperationResult = {
  /** `succeeded` unless the handler says otherwise. A handler that fails throws. */
  outcome?: 'succeeded' | 'partially_succeeded';
  counts?: Record<string, number>;
  failures?: FailureEntry[];
  /** Links to what the run produced, merged into the run's context (e.g. a backup set id). */
  links?: Record<string, string>;
};

export type OperationHandler<I> = (ctx: OperationContext<I>) => Promise<OperationResult | undefined>;

/**
 * Called inside every transaction that writes the run, after the write: the parallel write of a
 * legacy run table commits or rolls back with the canonical row.
 */
export type RunWriteHook = (trx: Trx, run: RunRow) => Promise<void>;

/**
 * Checks the references in a start's inputs (e.g. that a backup exists and belongs to the tenant)
 * inside the start transaction, before the run is inserted: throw a typed error (NotFoundError,
 * ValidationError, ConflictError) to refuse the start. The transaction is scoped to the tenant.
 * It may return the names of what the inputs point at (e.g. `{backupName}`): they are kept in the
 * run's links, so the run's title can say them without a lookup on every read.
 */
export type StartValidator<I> = (
  trx: Trx,
  request: { tenantId: string; inputs: I },
) => Promise<void | Record<string, string>>;

/** What `describe` is given: the run's stored inputs, links and counts (never fetched elsewhere). */
export type RunDescription<I> = {
  inputs: Partial<I>;
  links: Record<string, string>;
  counts: Record<string, number>;
};

export type OperationTypeDefinition<I = any> = {
  /** e.g. `inventory.sync` */
  name: string;
  label: string;
  /** JSON schema (TypeBox) of the inputs; defaults in it are applied before validation. */
  inputSchema: TSchema;
  /**
   * Input keys that form the run's identity: two starts share a run (while it is active) exactly
   * when these inputs are equal after normalisation. Every input that makes the work different
   * belongs here; an absent optional input is distinct from any present value.
   */
  identityKeys: readonly string[];
  /** The only counters a run of this type may report. */
  countKeys: readonly string[];
  /**
   * How long one attempt may run. Past it the handler's signal fires with an AttemptTimeoutError
   * and the attempt is recorded `attempt_timeout`, then retried or failed like any failed attempt.
   */
  timeoutSeconds: number;
  /** Attempts a run may make, the first included; counted by the ledger alone. */
  maxAttempts: number;
  /** Seconds before a failed attempt is retried. */
  retryDelaySeconds?: number;
  /** Puts inputs in canonical form after validation (e.g. sort a set given as an array). */
  normalize?: (inputs: I) => I;
  /**
   * For a type whose runs mirror a domain record: the inputs a retry of a mirror starts with, read
   * from the record (null when it cannot be retried). Without it, mirrors are not retried.
   */
  retryInputs?: (trx: Trx, mirror: RunRow) => Promise<Record<string, unknown> | null>;
  /**
   * For a type whose runs mirror a domain record: compares records with their mirrors across
   * tenants, marks the runs that disagree and completes mirrors whose record is gone. A worker runs
   * it periodically, so a divergence is found without anyone running `verify`.
   */
  checkMirrors?: () => Promise<MirrorCheckReport>;
  /** Refuses a start whose inputs name something that does not exist, before any run is created. */
  validate?: StartValidator<I>;
  /**
   * A run's descriptive title (and a short tag such as "Dry run") from what the run row holds:
   * its inputs, its links and its counts. Without it the title is the type's label.
   */
  describe?: (run: RunDescription<I>) => { title: string; tag?: string };
  handler: OperationHandler<I>;
  onRunWrite?: RunWriteHook;
};

/**
 * Declares an operation type with its handler's inputs inferred from `inputSchema`: the handler,
 * `normalize` and `validate` see `Static<typeof inputSchema>`, so reading an input the schema does
 * not have, or using one as the wrong type, fails to compile.
 */
export function defineOperationType<S extends TSchema>(
  definition: Omit<OperationTypeDefinition<Static<S>>, 'inputSchema'> & { inputSchema: S },
): OperationTypeDefinition<Static<S>> {
  return definition;
}

export class CatalogError extends Error {
  override name = 'CatalogError';
}

const TYPE_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/**
 * The registered operation types. Checked when built: a duplicate name, a missing handler or an
 * identity key that is not an input stops start-up rather than failing the first run.
 */
export class OperationCatalog {
  #types = new Map<string, OperationTypeDefinition>();

  constructor(definitions: readonly OperationTypeDefinition[]) {
    for (const def of definitions) {
      if (!TYPE_NAME.test(def.name)) throw new CatalogError(`operation type name "${def.name}" is not valid`);
      if (this.#types.has(def.name))
        throw new CatalogError(`operation type "${def.name}" is registered twice`);
      if (typeof def.handler !== 'function') {
        throw new CatalogError(`operation type "${def.name}" has no handler`);
      }
      if (!def.label) throw new CatalogError(`operation type "${def.name}" has no label`);
      const props = (def.inputSchema as { properties?: Record<string, unknown> }).properties ?? {};
      for (const key of def.identityKeys) {
        if (!(key in props)) throw new CatalogError(`identity key "${key}" of "${def.name}" is not an input`);
      }
      if (!Number.isInteger(def.maxAttempts) || def.maxAttempts < 1 || def.maxAttempts > 100) {
        throw new CatalogError(`maxAttempts of "${def.name}" must be 1–100`);
      }
      if (!Number.isInteger(def.timeoutSeconds) || def.timeoutSeconds < 1) {
        throw new CatalogError(`timeoutSeconds of "${def.name}" must be a positive integer`);
      }
      this.#types.set(def.name, def);
    }
  }

  has(name: string): boolean {
    return this.#types.has(name);
  }

  get(name: string): OperationTypeDefinition {
    const def = this.#types.get(name);
    if (!def)
      throw new ValidationError(`unknown operation type "${truncate(name, 80)}"`, [
        { path: '/type', message: 'is not a registered operation type' },
      ]);
    return def;
  }

  list(): OperationTypeDefinition[] {
    return [...this.#types.values()];
  }

  label(name: string): string {
    return this.#types.get(name)?.label ?? name;
  }

  /** The run's title and tag as its type describes them; the label when it does not (or fails to). */
  describe(name: string, run: RunDescription<any>): { title: string; tag: string | null } {
    const def = this.#types.get(name);
    const label = def?.label ?? name;
    try {
      const d = def?.describe?.(run);
      if (d?.title) return { title: truncate(d.title, 200), tag: d.tag ? truncate(d.tag, 40) : null };
    } catch {
      // A title is a nicety: a row the type cannot describe (an old shape) keeps its label.
    }
    return { title: label, tag: null };
  }

  /** Applies defaults, validates and normalises inputs; throws ValidationError with field problems. */
  parseInputs(name: string, inputs: unknown): Record<string, unknown> {
    const def = this.get(name);
    const raw = inputs === undefined || inputs === null ? {} : inputs;
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new ValidationError('inputs must be an object', [
        { path: '/inputs', message: 'must be an object' },
      ]);
    }
    const withDefaults = Value.Default(def.inputSchema, structuredClone(raw));
    if (!Value.Check(def.inputSchema, withDefaults)) {
      const problems: FieldProblem[] = Value.Errors(def.inputSchema, withDefaults)
        .slice(0, 20)
        .map((e: { instancePath: string; message: string }) => ({
          path: `/inputs${e.instancePath}`,
          message: e.message,
        }));
      throw new ValidationError(`inputs do not match the schema of ${def.name}`, problems);
    }
    const value = withDefaults as Record<string, unknown>;
    return def.normalize ? (def.normalize(value) as Record<string, unknown>) : value;
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
