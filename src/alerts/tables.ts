import type { ColumnType } from 'kysely';

type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type AlertOutcome = 'failed' | 'partially_succeeded';
export type DeliveryEvent = 'run.failed' | 'run.partially_succeeded' | 'run.long_running' | 'test';
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface NotificationTargetsTable {
  tenant_id: string;
  id: string;
  name: string;
  kind: ColumnType<'webhook', 'webhook' | undefined, 'webhook'>;
  url_encrypted: string;
  url_display: string;
  secret_encrypted: string;
  types: ColumnType<string[], string[] | undefined, string[]>;
  outcomes: ColumnType<AlertOutcome[], AlertOutcome[] | undefined, AlertOutcome[]>;
  longer_than_minutes: number | null;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  created_by: string | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface NotificationDeliveriesTable {
  tenant_id: string;
  id: string;
  target_id: string;
  run_id: string | null;
  event: DeliveryEvent;
  idempotency_key: string;
  payload: Json<Record<string, unknown>>;
  status: ColumnType<DeliveryStatus, DeliveryStatus | undefined, DeliveryStatus>;
  attempts: ColumnType<number, number | undefined, number>;
  last_status_code: number | null;
  last_error: string | null;
  created_at: GeneratedTimestamp;
  completed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface NotificationDeliveryAttemptsTable {
  tenant_id: string;
  id: string;
  delivery_id: string;
  at: GeneratedTimestamp;
  attempt: number;
  status_code: number | null;
  response_excerpt: string | null;
  error: string | null;
  duration_ms: number;
}

export interface AlertTables {
  notification_targets: NotificationTargetsTable;
  notification_deliveries: NotificationDeliveriesTable;
  notification_delivery_attempts: NotificationDeliveryAttemptsTable;
}
