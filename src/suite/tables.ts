import type { ColumnType } from 'kysely';
import type { RestoreTables } from './restore/tables.ts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;
type GeneratedInt = ColumnType<number, number | undefined, number>;

export type InventoryLegacyStatus = 'pending' | 'in_progress' | 'success' | 'partial' | 'error' | 'cancelled';
export type DriftLegacyState = 'new' | 'processing' | 'done' | 'partial' | 'failed' | 'aborted';
export type DriftKind = 'added' | 'removed' | 'modified';

export interface TenantGraphConnectionsTable {
  tenant_id: string;
  directory_id: string;
  client_id: string;
  client_secret_encrypted: string;
  graph_url: string | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface InventoryItemsTable {
  tenant_id: string;
  family: string;
  external_id: string;
  display_name: string;
  odata_type: string | null;
  payload: Json<Record<string, unknown>>;
  payload_hash: string;
  first_seen_at: Timestamp;
  last_seen_at: Timestamp;
  deleted_at: Timestamp | null;
}

export interface BackupSetsTable {
  id: string;
  tenant_id: string;
  name: string;
  scope: Json<string[]>;
  item_count: GeneratedInt;
  operation_run_id: string | null;
  created_at: GeneratedTimestamp;
}

export interface BackupItemsTable {
  tenant_id: string;
  backup_set_id: string;
  family: string;
  external_id: string;
  display_name: string;
  odata_type: string | null;
  payload: Json<Record<string, unknown>>;
  payload_hash: string;
}

export interface DriftFindingsTable {
  id: string;
  tenant_id: string;
  operation_run_id: string;
  baseline_id: string;
  kind: DriftKind;
  family: string;
  external_id: string;
  display_name: string;
  changed_paths: Json<string[]>;
  created_at: GeneratedTimestamp;
}

export interface InventorySyncRunsTable {
  id: string;
  tenant_id: string;
  operation_run_id: string | null;
  status: InventoryLegacyStatus;
  scope: Json<string[]>;
  items_created: GeneratedInt;
  items_updated: GeneratedInt;
  items_unchanged: GeneratedInt;
  items_deleted: GeneratedInt;
  items_failed: GeneratedInt;
  error_message: string | null;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  run_pruned_at: Timestamp | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface DriftGenerationRunsTable {
  id: string;
  tenant_id: string;
  operation_run_id: string | null;
  state: DriftLegacyState;
  baseline_id: string | null;
  added_count: GeneratedInt;
  removed_count: GeneratedInt;
  modified_count: GeneratedInt;
  last_error: string | null;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  run_pruned_at: Timestamp | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

/** The suite's tables, joined into the database's interface in src/db/schema.ts. */
export interface SuiteTables extends RestoreTables {
  tenant_graph_connections: TenantGraphConnectionsTable;
  inventory_items: InventoryItemsTable;
  backup_sets: BackupSetsTable;
  backup_items: BackupItemsTable;
  drift_findings: DriftFindingsTable;
  inventory_sync_runs: InventorySyncRunsTable;
  drift_generation_runs: DriftGenerationRunsTable;
}
