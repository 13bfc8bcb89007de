import type { ColumnType } from 'kysely';

type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export type Role = 'owner' | 'operator' | 'viewer';

/** What an API token may do: read, or read and operate (start, cancel, retry, schedules). */
export type TokenScope = 'read' | 'operate';

export interface UserPasswordsTable {
  user_id: string;
  password_hash: string;
  updated_at: GeneratedTimestamp;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  secret_hash: string;
  created_at: GeneratedTimestamp;
  expires_at: Timestamp;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  secret_hash: string;
  created_at: GeneratedTimestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  scope: TokenScope;
  expires_at: Timestamp;
}

export interface MembershipsTable {
  tenant_id: string;
  user_id: string;
  role: Role;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

/** Password attempts per hashed key and window, shared by every process (see attempts.ts). */
export interface AuthAttemptsTable {
  key: string;
  attempts: number;
  window_ends_at: Timestamp;
}

export interface AccessTables {
  auth_attempts: AuthAttemptsTable;
  user_passwords: UserPasswordsTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  memberships: MembershipsTable;
}
