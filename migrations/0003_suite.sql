-- The suite's operations: Graph connections, inventory, drift, backups, restores, and the legacy
-- run tables written in parallel with operation_runs during the transition.
-- Every table is tenant-owned: tenant_id leads every key and foreign key, and row-level security
-- applies exactly as on operation_runs.

CREATE TABLE tenant_graph_connections (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  directory_id text NOT NULL CHECK (length(directory_id) BETWEEN 1 AND 200),
  client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 200),
  -- AES-256-GCM box (src/graph/secret-box.ts); the clear secret never reaches the database.
  client_secret_encrypted text NOT NULL CHECK (client_secret_encrypted LIKE 'v1:%'),
  -- NULL means the process's configured GRAPH_URL.
  graph_url text CHECK (graph_url IS NULL OR graph_url ~ '^https?://'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory_items (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  family text NOT NULL,
  external_id text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  odata_type text,
  payload jsonb NOT NULL,
  payload_hash text NOT NULL CHECK (payload_hash ~ '^[0-9a-f]{64}$'),
  first_seen_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  -- Set when the item is no longer in Graph; cleared if it comes back.
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, family, external_id)
);

CREATE TABLE backup_sets (
  id uuid NOT NULL,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  scope jsonb NOT NULL CHECK (jsonb_typeof(scope) = 'array'),
  item_count integer NOT NULL DEFAULT 0 CHECK (item_count >= 0),
  -- The run that took it. A backup outlives its run, so pruning the run only clears the link.
  operation_run_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT backup_sets_run_fkey FOREIGN KEY (tenant_id, operation_run_id)
    REFERENCES operation_runs (tenant_id, id) ON DELETE SET NULL (operation_run_id)
);
-- A retried backup attempt replaces what an earlier attempt of the same run wrote.
CREATE UNIQUE INDEX backup_sets_run_key ON backup_sets (tenant_id, operation_run_id)
  WHERE operation_run_id IS NOT NULL;
CREATE INDEX backup_sets_list_idx ON backup_sets (tenant_id, created_at DESC, id DESC);

CREATE TABLE backup_items (
  tenant_id uuid NOT NULL,
  backup_set_id uuid NOT NULL,
  family text NOT NULL,
  external_id text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  odata_type text,
  payload jsonb NOT NULL,
  payload_hash text NOT NULL,
  PRIMARY KEY (tenant_id, backup_set_id, family, external_id),
  FOREIGN KEY (tenant_id, backup_set_id) REFERENCES backup_sets (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE drift_findings (
  id uuid NOT NULL,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  operation_run_id uuid NOT NULL,
  baseline_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('added', 'removed', 'modified')),
  family text NOT NULL,
  external_id text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  changed_paths jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(changed_paths) = 'array'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT drift_findings_unique_item UNIQUE (tenant_id, operation_run_id, family, external_id),
  -- Findings are the output of one run and go with it when it is pruned.
  CONSTRAINT drift_findings_run_fkey FOREIGN KEY (tenant_id, operation_run_id)
    REFERENCES operation_runs (tenant_id, id) ON DELETE CASCADE
);

-- Legacy run tables, in their own vocabularies. A row written in parallel names its canonical run
-- (and is deleted with it); a row from before the canonical table has none until `backfill`.
CREATE TABLE inventory_sync_runs (
  id uuid NOT NULL,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  operation_run_id uuid,
  status text NOT NULL CHECK (status IN ('pending', 'in_progress', 'success', 'partial', 'error', 'cancelled')),
  scope jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(scope) = 'array'),
  items_created integer NOT NULL DEFAULT 0,
  items_updated integer NOT NULL DEFAULT 0,
  items_unchanged integer NOT NULL DEFAULT 0,
  items_deleted integer NOT NULL DEFAULT 0,
  items_failed integer NOT NULL DEFAULT 0,
  error_message text,
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT inventory_sync_runs_run_fkey FOREIGN KEY (tenant_id, operation_run_id)
    REFERENCES operation_runs (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX inventory_sync_runs_run_key ON inventory_sync_runs (tenant_id, operation_run_id)
  WHERE operation_run_id IS NOT NULL;
CREATE INDEX inventory_sync_runs_unlinked_idx ON inventory_sync_runs (created_at)
  WHERE operation_run_id IS NULL;

CREATE TABLE drift_generation_runs (
  id uuid NOT NULL,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  operation_run_id uuid,
  state text NOT NULL CHECK (state IN ('new', 'processing', 'done', 'partial', 'failed', 'aborted')),
  baseline_id uuid,
  added_count integer NOT NULL DEFAULT 0,
  removed_count integer NOT NULL DEFAULT 0,
  modified_count integer NOT NULL DEFAULT 0,
  last_error text,
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT drift_generation_runs_run_fkey FOREIGN KEY (tenant_id, operation_run_id)
    REFERENCES operation_runs (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX drift_generation_runs_run_key ON drift_generation_runs (tenant_id, operation_run_id)
  WHERE operation_run_id IS NOT NULL;
CREATE INDEX drift_generation_runs_unlinked_idx ON drift_generation_runs (created_at)
  WHERE operation_run_id IS NULL;

-- The restore domain record: its own lifecycle, the source of truth that operation_runs mirrors.
CREATE TABLE restore_runs (
  id uuid NOT NULL,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  backup_set_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelled')),
  dry_run boolean NOT NULL DEFAULT false,
  -- NULL: every item of the backup.
  requested_items jsonb CHECK (requested_items IS NULL OR jsonb_typeof(requested_items) = 'array'),
  -- Bumped on every change; the mirror never applies a version older than the one it holds.
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  initiator_kind text NOT NULL CHECK (initiator_kind IN ('user', 'api', 'schedule', 'system')),
  initiator_user_id uuid,
  initiator_name text NOT NULL DEFAULT '',
  error_code text,
  error_message text,
  operation_run_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  completed_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT restore_runs_terminal_completed_at CHECK (
    (status IN ('completed', 'completed_with_errors', 'failed', 'cancelled')) = (completed_at IS NOT NULL)),
  -- The domain record outlives its mirror: pruning the run only clears the link.
  CONSTRAINT restore_runs_run_fkey FOREIGN KEY (tenant_id, operation_run_id)
    REFERENCES operation_runs (tenant_id, id) ON DELETE SET NULL (operation_run_id)
);
CREATE UNIQUE INDEX restore_runs_run_key ON restore_runs (tenant_id, operation_run_id)
  WHERE operation_run_id IS NOT NULL;
CREATE INDEX restore_runs_list_idx ON restore_runs (tenant_id, created_at DESC, id DESC);

CREATE TABLE restore_run_items (
  tenant_id uuid NOT NULL,
  restore_run_id uuid NOT NULL,
  family text NOT NULL,
  external_id text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  -- What the restore does (or, in a dry run, would do) to Graph.
  action text CHECK (action IS NULL OR action IN ('create', 'update', 'none')),
  result text NOT NULL DEFAULT 'pending' CHECK (result IN ('pending', 'succeeded', 'failed', 'skipped')),
  target_id text,
  error_code text,
  error_message text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, restore_run_id, family, external_id),
  FOREIGN KEY (tenant_id, restore_run_id) REFERENCES restore_runs (tenant_id, id) ON DELETE CASCADE
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenant_graph_connections', 'inventory_items', 'backup_sets', 'backup_items',
                           'drift_findings', 'inventory_sync_runs', 'drift_generation_runs',
                           'restore_runs', 'restore_run_items'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (current_user <> 'opsledger_app'
             OR tenant_id = nullif(current_setting('opsledger.tenant_id', true), '')::uuid)
      WITH CHECK (current_user <> 'opsledger_app'
             OR tenant_id = nullif(current_setting('opsledger.tenant_id', true), '')::uuid)$p$, t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO opsledger_app', t);
  END LOOP;
END
$$;
