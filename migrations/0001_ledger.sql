-- The canonical ledger: tenants, users and operation_runs.
-- Every invariant the product promises is held here, not only in application code.

-- The application role. Tenant-scoped transactions switch to it with SET LOCAL ROLE so that
-- row-level security applies even when the connecting user owns the tables or is a superuser.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'opsledger_app') THEN
    CREATE ROLE opsledger_app NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  -- Another database on the same cluster created it at the same moment.
  NULL;
END
$$;

DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'opsledger_app', 'MEMBER') THEN
    EXECUTE format('GRANT opsledger_app TO %I', current_user);
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO opsledger_app;

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  display_name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE operation_runs (
  id uuid NOT NULL,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  type text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed')),
  outcome text NOT NULL DEFAULT 'pending'
    CHECK (outcome IN ('pending', 'succeeded', 'partially_succeeded', 'failed', 'cancelled')),
  run_identity_hash text NOT NULL CHECK (run_identity_hash ~ '^[0-9a-f]{64}$'),
  initiator_kind text NOT NULL CHECK (initiator_kind IN ('user', 'api', 'schedule', 'system')),
  initiator_user_id uuid,
  initiator_name text NOT NULL DEFAULT '',
  context jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(context) = 'object'),
  summary_counts jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(summary_counts) = 'object'),
  failure_summary jsonb NOT NULL DEFAULT '[]'
    CHECK (jsonb_typeof(failure_summary) = 'array' AND jsonb_array_length(failure_summary) <= 20),
  source_type text,
  source_id text,
  retry_of_run_id uuid,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts integer NOT NULL DEFAULT 1 CHECK (max_attempts BETWEEN 1 AND 100),
  -- The queue job that currently holds this run. A worker may only move the run while it holds
  -- the job that the row names, so a worker that was presumed dead cannot overwrite a retry.
  job_id uuid,
  cancel_requested_at timestamptz,
  last_heartbeat_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  completed_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT operation_runs_outcome_matches_status
    CHECK ((status = 'completed') = (outcome <> 'pending')),
  CONSTRAINT operation_runs_completed_at_matches_status
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
  CONSTRAINT operation_runs_source_pair
    CHECK ((source_type IS NULL) = (source_id IS NULL)),
  CONSTRAINT operation_runs_user_initiator
    CHECK (initiator_kind <> 'user' OR initiator_user_id IS NOT NULL),
  -- A retry points at a run of the same tenant; pruning the original only clears the link.
  CONSTRAINT operation_runs_retry_of_fkey FOREIGN KEY (tenant_id, retry_of_run_id)
    REFERENCES operation_runs (tenant_id, id) ON DELETE SET NULL (retry_of_run_id)
);

-- At most one active run per identity. A concurrent duplicate start fails on this index and
-- the service returns the run that won.
CREATE UNIQUE INDEX operation_runs_active_identity_key
  ON operation_runs (tenant_id, run_identity_hash) WHERE status <> 'completed';

-- One mirror row per domain record.
CREATE UNIQUE INDEX operation_runs_source_key
  ON operation_runs (tenant_id, source_type, source_id) WHERE source_type IS NOT NULL;

-- The monitoring list: newest first per tenant, keyset on (created_at, id), with the common filters.
CREATE INDEX operation_runs_list_idx ON operation_runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX operation_runs_type_idx ON operation_runs (tenant_id, type, created_at DESC, id DESC);
CREATE INDEX operation_runs_outcome_idx ON operation_runs (tenant_id, outcome, created_at DESC, id DESC);
CREATE INDEX operation_runs_initiator_idx
  ON operation_runs (tenant_id, initiator_kind, created_at DESC, id DESC);
CREATE INDEX operation_runs_active_idx
  ON operation_runs (tenant_id, status, created_at DESC, id DESC) WHERE status <> 'completed';
CREATE INDEX operation_runs_retry_of_idx
  ON operation_runs (tenant_id, retry_of_run_id) WHERE retry_of_run_id IS NOT NULL;
-- The reaper and the pruner scan across tenants.
CREATE INDEX operation_runs_heartbeat_idx ON operation_runs (last_heartbeat_at) WHERE status = 'running';
CREATE INDEX operation_runs_queued_idx ON operation_runs (created_at) WHERE status = 'queued';
CREATE INDEX operation_runs_prune_idx ON operation_runs (completed_at) WHERE status = 'completed';

-- A completed run is history: nothing may change it again, whichever code path tries.
CREATE FUNCTION operation_runs_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'completed' THEN
    -- The one change allowed: pruning the run a retry pointed at clears the link (ON DELETE SET NULL).
    IF OLD.retry_of_run_id IS NOT NULL AND NEW.retry_of_run_id IS NULL
       AND to_jsonb(NEW) - 'retry_of_run_id' = to_jsonb(OLD) - 'retry_of_run_id' THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'operation run % is completed and cannot change', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'operation_runs_completed_immutable';
  END IF;
  IF NEW.id <> OLD.id OR NEW.tenant_id <> OLD.tenant_id OR NEW.type <> OLD.type
     OR NEW.run_identity_hash <> OLD.run_identity_hash OR NEW.created_at <> OLD.created_at THEN
    RAISE EXCEPTION 'operation run % identity columns cannot change', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'operation_runs_identity_immutable';
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END
$$;
CREATE TRIGGER operation_runs_guard BEFORE UPDATE ON operation_runs
  FOR EACH ROW EXECUTE FUNCTION operation_runs_guard();

-- Every change is announced so that any server process can push it to its stream subscribers.
-- Statement-level, so a bulk write (history import, seeding) sends one notice per tenant rather
-- than one per row: a listener flooded with 100,000 notices helps no one.
CREATE FUNCTION operation_runs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed integer;
  r record;
BEGIN
  SELECT count(*) INTO changed FROM (SELECT 1 FROM new_rows LIMIT 101) s;
  IF changed <= 100 THEN
    FOR r IN SELECT tenant_id, id, status, cancel_requested_at FROM new_rows LOOP
      PERFORM pg_notify('opsledger_runs',
        json_build_object('tenantId', r.tenant_id, 'runId', r.id, 'status', r.status,
                          'cancelRequested', r.cancel_requested_at IS NOT NULL)::text);
    END LOOP;
  ELSE
    FOR r IN SELECT DISTINCT tenant_id FROM new_rows LOOP
      PERFORM pg_notify('opsledger_runs', json_build_object('tenantId', r.tenant_id, 'bulk', true)::text);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER operation_runs_notify_insert AFTER INSERT ON operation_runs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_runs_notify();
CREATE TRIGGER operation_runs_notify_update AFTER UPDATE ON operation_runs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_runs_notify();

-- Row-level security: the second wall behind the application's own tenant scoping.
-- The application role sees only the tenant named by the transaction-local setting; other roles
-- (the owner running migrations, the reaper and the pruner) keep full access.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (current_user <> 'opsledger_app'
         OR id = nullif(current_setting('opsledger.tenant_id', true), '')::uuid);

ALTER TABLE operation_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE operation_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON operation_runs
  USING (current_user <> 'opsledger_app'
         OR tenant_id = nullif(current_setting('opsledger.tenant_id', true), '')::uuid)
  WITH CHECK (current_user <> 'opsledger_app'
         OR tenant_id = nullif(current_setting('opsledger.tenant_id', true), '')::uuid);

GRANT SELECT ON tenants, users TO opsledger_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON operation_runs TO opsledger_app;
