-- A short id that identifies a run within its tenant: #1, #2, … in the order runs were created,
-- like an issue number. The uuid stays the run's id everywhere; the number is what people say,
-- search and copy. Numbers are never reused (pruned runs leave gaps) and never change.
--
-- The counter is one row per tenant, bumped by an upsert in the insert's own transaction: the row
-- lock serialises concurrent starts of one tenant for the instant between their inserts and their
-- commits, and never touches another tenant's starts. A start that loses the identity race (ON
-- CONFLICT DO NOTHING on the active-identity index) still consumes a number: a gap, not a clash.
CREATE TABLE tenant_run_counters (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  last_number integer NOT NULL,
  PRIMARY KEY (tenant_id)
);

ALTER TABLE tenant_run_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_run_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_run_counters
  USING (current_user <> 'opsledger_app' OR tenant_id = (SELECT opsledger_tenant()))
  WITH CHECK (current_user <> 'opsledger_app' OR tenant_id = (SELECT opsledger_tenant()));
GRANT SELECT, INSERT, UPDATE ON tenant_run_counters TO opsledger_app;

ALTER TABLE operation_runs ADD COLUMN run_number integer;

-- Existing runs are numbered in creation order. The guard trigger forbids changing a completed run
-- and the notify trigger would announce every row: both stand aside for this one statement only.
ALTER TABLE operation_runs DISABLE TRIGGER operation_runs_guard;
ALTER TABLE operation_runs DISABLE TRIGGER operation_runs_notify_update;
UPDATE operation_runs r
   SET run_number = n.rn
  FROM (SELECT tenant_id, id,
               row_number() OVER (PARTITION BY tenant_id ORDER BY created_at, id) AS rn
          FROM operation_runs) n
 WHERE r.tenant_id = n.tenant_id AND r.id = n.id;
ALTER TABLE operation_runs ENABLE TRIGGER operation_runs_notify_update;
ALTER TABLE operation_runs ENABLE TRIGGER operation_runs_guard;

INSERT INTO tenant_run_counters (tenant_id, last_number)
SELECT tenant_id, max(run_number) FROM operation_runs GROUP BY tenant_id;

CREATE FUNCTION operation_runs_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tenant_run_counters AS c (tenant_id, last_number) VALUES (NEW.tenant_id, 1)
  ON CONFLICT (tenant_id) DO UPDATE SET last_number = c.last_number + 1
  RETURNING c.last_number INTO NEW.run_number;
  RETURN NEW;
END
$$;
CREATE TRIGGER operation_runs_number BEFORE INSERT ON operation_runs
  FOR EACH ROW EXECUTE FUNCTION operation_runs_number();

-- The number, once given, is part of the run's identity.
CREATE FUNCTION operation_runs_number_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.run_number IS DISTINCT FROM OLD.run_number THEN
    RAISE EXCEPTION 'operation run % number cannot change', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'operation_runs_identity_immutable';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER operation_runs_number_immutable BEFORE UPDATE OF run_number ON operation_runs
  FOR EACH ROW EXECUTE FUNCTION operation_runs_number_immutable();

ALTER TABLE operation_runs ALTER COLUMN run_number SET NOT NULL;
CREATE UNIQUE INDEX operation_runs_number_key ON operation_runs (tenant_id, run_number);

-- "Started by me" and the bell: a person's runs, newest first.
CREATE INDEX operation_runs_initiator_user_idx
  ON operation_runs (tenant_id, initiator_user_id, created_at DESC, id DESC)
  WHERE initiator_user_id IS NOT NULL;
