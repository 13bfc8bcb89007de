-- One change feed for every reader of run changes (streams, workers waiting for a cancel), in
-- every process: each visible change of a run is announced once, with the run as it now is, so a
-- listener needs no read and sees every state in commit order. The channel name is
-- CHANGE_CHANNEL in src/ledger/change-feed.ts.
--
-- A notice is limited to 8000 bytes. A run too large to fit (long inputs, a full failure list) is
-- announced by id and a digest of what a reader sees instead; the listener reads the run back and
-- sends it only if it still has that digest (else a later notice carries the later state).

-- What a reader sees of a run: everything but the heartbeat columns.
CREATE FUNCTION operation_runs_digest(r operation_runs) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT md5((to_jsonb(r) - '{last_heartbeat_at,updated_at}'::text[])::text)
$$;

CREATE FUNCTION operation_runs_announce(r operation_runs) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  payload text := json_build_object('tenantId', r.tenant_id, 'runId', r.id, 'run', to_jsonb(r))::text;
BEGIN
  IF octet_length(payload) > 7800 THEN
    payload := json_build_object('tenantId', r.tenant_id, 'runId', r.id, 'digest', operation_runs_digest(r))::text;
  END IF;
  PERFORM pg_notify('opsledger_runs', payload);
END
$$;

-- Heartbeats change only last_heartbeat_at (and updated_at): nothing a reader shows, so they are
-- not announced; every other change is. More than 100 changed rows in one statement (history
-- import, seeding, pruning) are announced as one "reload" notice per tenant instead, and deletes
-- always are: a listener flooded with 100,000 notices helps no one.
CREATE OR REPLACE FUNCTION operation_runs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed integer;
  r operation_runs;
  t record;
BEGIN
  IF TG_OP = 'DELETE' THEN
    FOR t IN SELECT DISTINCT tenant_id FROM old_rows LOOP
      PERFORM pg_notify('opsledger_runs', json_build_object('tenantId', t.tenant_id, 'reload', true)::text);
    END LOOP;
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    SELECT count(*) INTO changed FROM (
      SELECT 1 FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
      WHERE to_jsonb(n) - '{last_heartbeat_at,updated_at}'::text[]
            IS DISTINCT FROM to_jsonb(o) - '{last_heartbeat_at,updated_at}'::text[]
      LIMIT 101) s;
    IF changed BETWEEN 1 AND 100 THEN
      FOR r IN
        SELECT n.* FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
        WHERE to_jsonb(n) - '{last_heartbeat_at,updated_at}'::text[]
              IS DISTINCT FROM to_jsonb(o) - '{last_heartbeat_at,updated_at}'::text[]
      LOOP
        PERFORM operation_runs_announce(r);
      END LOOP;
      RETURN NULL;
    END IF;
  ELSE
    SELECT count(*) INTO changed FROM (SELECT 1 FROM new_rows LIMIT 101) s;
    IF changed <= 100 THEN
      FOR r IN SELECT * FROM new_rows LOOP
        PERFORM operation_runs_announce(r);
      END LOOP;
      RETURN NULL;
    END IF;
  END IF;
  IF changed > 100 THEN
    FOR t IN SELECT DISTINCT tenant_id FROM new_rows LOOP
      PERFORM pg_notify('opsledger_runs', json_build_object('tenantId', t.tenant_id, 'reload', true)::text);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;

DROP TRIGGER operation_runs_notify_update ON operation_runs;
CREATE TRIGGER operation_runs_notify_update AFTER UPDATE ON operation_runs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_runs_notify();
CREATE TRIGGER operation_runs_notify_delete AFTER DELETE ON operation_runs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_runs_notify();
