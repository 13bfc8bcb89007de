import { createQueryId, PostgresQueryCompiler, type RootOperationNode } from 'kysely';
import pg from 'pg';

/** A value that has no safe text form here (an object, an array, a non-finite number). */
class NotInlinable extends Error {}

/**
 * Compiles a query with its values written into the text as literals instead of `$n` parameters,
 * so that it can travel with other statements in one simple-protocol message (which takes no
 * parameters). Strings are quoted by the driver's own escapeLiteral (an E'' literal when the text
 * has a backslash, so the result does not depend on standard_conforming_strings). An untyped
 * literal is resolved by the server exactly like an untyped parameter, which is what `pg` sends.
 */
class LiteralCompiler extends PostgresQueryCompiler {
  protected override appendValue(value: unknown): void {
    this.append(literal(value));
  }
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new NotInlinable();
    return String(value);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new NotInlinable();
    return pg.escapeLiteral(value.toISOString());
  }
  // PostgreSQL text cannot hold NUL; as a parameter it fails on the server, so it does here.
  if (typeof value === 'string' && !value.includes('\0')) return pg.escapeLiteral(value);
  throw new NotInlinable();
}

/** The query as standalone SQL text, or null when one of its values cannot be written inline. */
export function standaloneSql(query: { toOperationNode(): RootOperationNode }): string | null {
  try {
    return new LiteralCompiler().compileQuery(query.toOperationNode(), createQueryId()).sql;
  } catch (err) {
    if (err instanceof NotInlinable) return null;
    throw err;
  }
}
