import type { AccessTables } from '../access/tables.ts';
import type { AlertTables } from '../alerts/tables.ts';
import type { LedgerTables } from '../ledger/tables.ts';
import type { SuiteTables } from '../suite/tables.ts';

/**
 * The whole database as Kysely sees it: each part of the product declares its own tables
 * next to its code, and this interface joins them.
 */
export interface DB extends LedgerTables, AccessTables, SuiteTables, AlertTables {}
