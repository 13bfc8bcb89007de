import type { ColumnType, Generated } from 'kysely';
import type { InitiatorKind } from '../../ledger/tables.ts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type RestoreStatus =
  | 'pending'
  | 'running'
  | 'completed'
  | 'completed_with_errors'
  | 'failed'
  | 'cancelled';
export type RestoreAction = 'create' | 'update' | 'none';
export type RestoreItemResult = 'pending' | 'succeeded' | 'failed' | 'skipped';

export interface RestoreRunsTable {
  id: string;
  tenant_id: string;
  backup_set_id: string;
  status: Generated<RestoreStatus>;
  dry_run: Generated<boolean>;
  requested_items: Json<string[] | null> | null;
  version: Generated<number>;
  initiator_kind: InitiatorKind;
  initiator_user_id: string | null;
  initiator_name: Generated<string>;
  error_code: string | null;
  error_message: string | null;
  operation_run_id: string | null;
  retry_of_restore_run_id: string | null;
  /** Set when the pruner deleted the mirror (the link was cleared by retention, not by hand). */
  run_pruned_at: Timestamp | null;
  created_at: GeneratedTimestamp;
  started_at: Timestamp | null;
  completed_at: Timestamp | null;
  updated_at: GeneratedTimestamp;
}

export interface RestoreRunItemsTable {
  tenant_id: string;
  restore_run_id: string;
  family: string;
  external_id: string;
  display_name: Generated<string>;
  action: RestoreAction | null;
  result: Generated<RestoreItemResult>;
  target_id: string | null;
  error_code: string | null;
  error_message: string | null;
  updated_at: GeneratedTimestamp;
}

export interface RestoreTables {
  restore_runs: RestoreRunsTable;
  restore_run_items: RestoreRunItemsTable;
}
