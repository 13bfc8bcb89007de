-- Schedules: a tenant's recurring start of one operation type (cron expression in a time zone).
-- The row is the schedule's whole state. Its next firing is stored, so whichever worker locks a
-- due row (FOR UPDATE SKIP LOCKED) fires it and moves next_fire_at on in the same transaction as
-- the run it starts: a firing is taken by exactly one process, and taken again by none.

CREATE TABLE schedules (
  id uuid NOT NULL,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  type text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  inputs jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(inputs) = 'object'),
  cron text NOT NULL CHECK (length(cron) BETWEEN 1 AND 120),
  timezone text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
  -- What a firing missed while nothing was running does: 'once' starts one run for all of them,
  -- 'skip' starts none; either way the schedule then resumes from the next firing after now.
  missed text NOT NULL DEFAULT 'once' CHECK (missed IN ('once', 'skip')),
  paused_at timestamptz,
  -- NULL exactly while paused: a paused schedule has no firing to take.
  next_fire_at timestamptz,
  last_fired_at timestamptz,
  last_run_id uuid,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT schedules_name_key UNIQUE (tenant_id, name),
  CONSTRAINT schedules_paused_has_no_firing CHECK ((paused_at IS NULL) = (next_fire_at IS NOT NULL)),
  -- A pruned run only clears the link.
  CONSTRAINT schedules_last_run_fkey FOREIGN KEY (tenant_id, last_run_id)
    REFERENCES operation_runs (tenant_id, id) ON DELETE SET NULL (last_run_id)
);

-- The firing scan crosses tenants by design: it is the one reader that asks "what is due anywhere".
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;

ALTER TABLE schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE schedules FORCE ROW LEVEL SECURITY;
-- The signed tenant of the transaction (migration 0005), as on every other tenant table.
CREATE POLICY tenant_isolation ON schedules
  USING (current_user <> 'opsledger_app' OR tenant_id = opsledger_tenant())
  WITH CHECK (current_user <> 'opsledger_app' OR tenant_id = opsledger_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON schedules TO opsledger_app;
