import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export type RunStatus = 'queued' | 'running' | 'completed';
export type RunOutcome = 'pending' | 'succeeded' | 'partially_succeeded' | 'failed' | 'cancelled';
export type InitiatorKind = 'user' | 'api' | 'schedule' | 'system';

import type { FailureEntry } from '../shared/failures.ts';

export type { FailureEntry };

export interface TenantsTable {
  id: string;
  name: string;
  created_at: GeneratedTimestamp;
}

export interface UsersTable {
  id: string;
  email: string;
  display_name: Generated<string>;
  created_at: GeneratedTimestamp;
}

export interface OperationRunsTable {
  id: string;
  /** Assigned by the insert trigger from tenant_run_counters (migration 0019). */
  run_number: Generated<number>;
  tenant_id: string;
  type: string;
  status: Generated<RunStatus>;
  outcome: Generated<RunOutcome>;
  run_identity_hash: string;
  initiator_kind: InitiatorKind;
  initiator_user_id: string | null;
  initiator_name: Generated<string>;
  context: Json<Record<string, unknown>>;
  summary_counts: Json<Record<string, number>>;
  failure_summary: Json<FailureEntry[]>;
  /** Failures by code over everything the run reported (failure_summary is a bounded list). */
  failure_counts: ColumnType<Record<string, number>, string | undefined, string>;
  source_type: string | null;
  source_id: string | null;
  retry_of_run_id: string | null;
  attempts: Generated<number>;
  max_attempts: number;
  job_id: string | null;
  cancel_requested_at: Timestamp | null;
  last_heartbeat_at: Timestamp | null;
  created_at: GeneratedTimestamp;
  started_at: Timestamp | null;
  completed_at: Timestamp | null;
  updated_at: GeneratedTimestamp;
  /** Set by the mirror check while a mirror disagrees with its domain record (migration 0012). */
  divergence: Json<RunDivergence | null> | null;
}

/** A mirror's disagreement with its record, as the periodic mirror check found it. */
export type RunDivergence = { detectedAt: string; detail: string };

export type MissedFiringPolicy = 'once' | 'skip';

export interface SchedulesTable {
  id: string;
  tenant_id: string;
  name: string;
  type: string;
  inputs: Json<Record<string, unknown>>;
  cron: string;
  timezone: string;
  missed: MissedFiringPolicy;
  paused_at: Timestamp | null;
  next_fire_at: Timestamp | null;
  last_fired_at: Timestamp | null;
  last_run_id: string | null;
  created_by: string | null;
  /** The last firing's failure to start its run ({code, message, at}, redacted); null once one starts. */
  last_error: Json<ScheduleFiringError | null> | null;
  /** Why the product paused the schedule (its creator left); null when paused by hand. */
  paused_reason: string | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export type ScheduleFiringError = { code: string; message: string; at: string };
export type RunEventLevel = 'info' | 'warn' | 'error';

export interface OperationRunEventsTable {
  tenant_id: string;
  id: string;
  run_id: string;
  at: GeneratedTimestamp;
  attempt: number;
  kind: string;
  level: RunEventLevel;
  message: string;
  data: Json<Record<string, unknown>>;
}

export interface TenantRunCountersTable {
  tenant_id: string;
  last_number: number;
}

export interface LedgerTables {
  tenant_run_counters: TenantRunCountersTable;
  tenants: TenantsTable;
  users: UsersTable;
  operation_runs: OperationRunsTable;
  operation_run_events: OperationRunEventsTable;
  schedules: SchedulesTable;
}
