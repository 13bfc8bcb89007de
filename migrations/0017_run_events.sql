-- What happened inside a run: an append-only, tenant-owned log of events per run (attempts, waits,
-- retries and their reasons, per-item failures, messages an operation type logs). Written redacted
-- and bounded by the application (src/ledger/event-log.ts); the checks here are the last wall.
CREATE TABLE operation_run_events (
  tenant_id uuid NOT NULL,
  -- Time-ordered (UUID v7): the log reads in id order.
  id uuid NOT NULL,
  run_id uuid NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  -- The run's attempt the event belongs to; 0 before the first attempt started.
  attempt integer NOT NULL DEFAULT 0 CHECK (attempt BETWEEN 0 AND 1000),
  kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(kind) <= 64),
  level text NOT NULL CHECK (level IN ('info', 'warn', 'error')),
  message text NOT NULL CHECK (length(message) <= 4000),
  data jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object' AND octet_length(data::text) <= 8192),
  PRIMARY KEY (tenant_id, id),
  -- Pruned with its run.
  CONSTRAINT operation_run_events_run_fkey FOREIGN KEY (tenant_id, run_id)
    REFERENCES operation_runs (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX operation_run_events_run_idx ON operation_run_events (tenant_id, run_id, id);
-- A run past its cap keeps one "N more events dropped" event, counted up in place.
CREATE UNIQUE INDEX operation_run_events_dropped_key
  ON operation_run_events (tenant_id, run_id) WHERE kind = 'events.dropped';

ALTER TABLE operation_run_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE operation_run_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON operation_run_events
  USING (current_user <> 'opsledger_app' OR tenant_id = (SELECT opsledger_tenant()))
  WITH CHECK (current_user <> 'opsledger_app' OR tenant_id = (SELECT opsledger_tenant()));

GRANT SELECT, INSERT, UPDATE ON operation_run_events TO opsledger_app;

-- New events are announced so an open stream of the run can read them. Any login may LISTEN, so
-- the notice carries the run's id alone: no tenant, no text. A stream reads the events back under
-- its own tenant's scope.
CREATE FUNCTION operation_run_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT DISTINCT run_id FROM new_rows LOOP
    PERFORM pg_notify('opsledger_run_events', r.run_id::text);
  END LOOP;
  RETURN NULL;
END
$$;
CREATE TRIGGER operation_run_events_notify_insert AFTER INSERT ON operation_run_events
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_run_events_notify();
CREATE TRIGGER operation_run_events_notify_update AFTER UPDATE ON operation_run_events
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_run_events_notify();

-- Failures grouped by code over everything a run reported, while failure_summary keeps a bounded
-- list of entries: {"graph_forbidden": 212, ...}.
ALTER TABLE operation_runs ADD COLUMN failure_counts jsonb NOT NULL DEFAULT '{}'
  CHECK (jsonb_typeof(failure_counts) = 'object');
