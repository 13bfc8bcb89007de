-- The restore adapter held in the database, and retention that deletes only the ledger's rows.
--
-- 1. Every write of a restore_runs row, whoever makes it (Opsledger's executor or plain SQL from
--    another application), mirrors the record into operation_runs in the same transaction.
-- 2. Pruning a run never deletes a legacy row, a drift finding, a backup or a restore record:
--    their link to the run is cleared instead, and the row notes that the pruner cleared it.

-- ---- the generic mirror, ledger side ---------------------------------------------------------

-- A time-ordered id (UUID version 7) for mirrors created inside the database; PostgreSQL 15 has none.
CREATE FUNCTION opsledger_uuidv7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid()) PLACING
        substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

-- The identity of a mirror: one per source, so two mirrors never collide on the active-identity
-- index. The same canonical JSON and hash as runIdentityHash() in src/ledger/identity.ts.
CREATE FUNCTION opsledger_mirror_identity(p_tenant_id uuid, p_type text, p_source_type text, p_source_id text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(
    '{"inputs":{"sourceId":' || to_json(p_source_id)::text
    || ',"sourceType":' || to_json(p_source_type)::text
    || '},"tenantId":' || to_json(lower(p_tenant_id::text))::text
    || ',"type":' || to_json(p_type)::text || '}', 'UTF8')), 'hex')
$$;

-- Applies one state of a domain record to its mirror: creates the mirror (or makes p_run_id, the
-- run that started the record, its mirror), or moves it forward. Never back: the mirror keeps the
-- highest source version applied in context.sourceVersion, so a late, repeated or reordered state
-- changes nothing; a completed mirror is immutable like every completed run. Returns the mirror
-- row when this call changed it, nothing otherwise.
CREATE FUNCTION opsledger_mirror_apply(
  p_tenant_id uuid, p_type text, p_source_type text, p_source_id text, p_version integer,
  p_status text, p_outcome text, p_counts jsonb, p_failures jsonb,
  p_initiator_kind text, p_initiator_user_id uuid, p_initiator_name text, p_links jsonb,
  p_created_at timestamptz, p_started_at timestamptz, p_completed_at timestamptz,
  p_run_id uuid DEFAULT NULL
) RETURNS SETOF operation_runs LANGUAGE plpgsql AS $$
DECLARE
  r operation_runs;
  done_at timestamptz := CASE WHEN p_status = 'completed' THEN coalesce(p_completed_at, now()) END;
BEGIN
  IF (p_status = 'completed') <> (p_outcome <> 'pending') THEN
    RAISE EXCEPTION 'mirror state %/% is inconsistent', p_status, p_outcome USING ERRCODE = 'check_violation';
  END IF;
  IF p_version IS NULL OR p_version < 1 THEN
    RAISE EXCEPTION 'mirror version must be at least 1' USING ERRCODE = 'check_violation';
  END IF;
  -- Appliers of one source take turns: a concurrent insert would otherwise trip the identity index
  -- (which ON CONFLICT on the source index does not cover) instead of waiting.
  PERFORM pg_advisory_xact_lock(hashtextextended('mirror|' || p_tenant_id || '|' || p_source_type || '|' || p_source_id, 0));
  IF NOT EXISTS (SELECT 1 FROM operation_runs
                 WHERE tenant_id = p_tenant_id AND source_type = p_source_type AND source_id = p_source_id) THEN
    IF p_run_id IS NOT NULL THEN
      UPDATE operation_runs
        SET source_type = p_source_type, source_id = p_source_id,
            context = jsonb_set(context, '{links}', coalesce(context -> 'links', '{}') || coalesce(p_links, '{}'))
        WHERE tenant_id = p_tenant_id AND id = p_run_id AND type = p_type
          AND source_type IS NULL AND status <> 'completed';
    END IF;
    IF p_run_id IS NULL OR NOT FOUND THEN
      INSERT INTO operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind,
                                  initiator_user_id, initiator_name, context, summary_counts, failure_summary,
                                  source_type, source_id, max_attempts, job_id, created_at, started_at, completed_at)
      VALUES (opsledger_uuidv7(), p_tenant_id, p_type, p_status, p_outcome,
              opsledger_mirror_identity(p_tenant_id, p_type, p_source_type, p_source_id),
              p_initiator_kind, p_initiator_user_id, left(coalesce(p_initiator_name, ''), 200),
              jsonb_build_object('sourceVersion', p_version)
                || CASE WHEN p_links IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('links', p_links) END,
              p_counts, p_failures, p_source_type, p_source_id, 1, NULL, p_created_at,
              coalesce(p_started_at, CASE WHEN done_at IS NOT NULL THEN p_created_at END), done_at)
      ON CONFLICT (tenant_id, source_type, source_id) WHERE source_type IS NOT NULL DO NOTHING
      RETURNING * INTO r;
      IF FOUND THEN
        RETURN NEXT r;
        RETURN;
      END IF;
    END IF;
  END IF;
  UPDATE operation_runs
    SET status = p_status, outcome = p_outcome, summary_counts = p_counts, failure_summary = p_failures,
        started_at = coalesce(p_started_at, started_at), completed_at = done_at,
        context = jsonb_set(context, '{sourceVersion}', to_jsonb(p_version))
    WHERE tenant_id = p_tenant_id AND source_type = p_source_type AND source_id = p_source_id
      AND status <> 'completed'
      AND coalesce((context ->> 'sourceVersion')::int, 0) < p_version
    RETURNING * INTO r;
  IF FOUND THEN
    RETURN NEXT r;
  END IF;
  RETURN;
END
$$;
GRANT EXECUTE ON FUNCTION opsledger_uuidv7(), opsledger_mirror_identity(uuid, text, text, text) TO opsledger_app;
GRANT EXECUTE ON FUNCTION opsledger_mirror_apply(uuid, text, text, text, integer, text, text, jsonb, jsonb,
  text, uuid, text, jsonb, timestamptz, timestamptz, timestamptz, uuid) TO opsledger_app;

-- ---- retention: the pruner clears links, and says so ----------------------------------------

-- The pruner sets opsledger.pruning in its transactions. A link cleared by it is history that
-- outlived the ledger's retention (not a divergence, nothing to backfill); a link cleared because
-- someone deleted a run by hand is not marked, so `verify` reports it.
CREATE FUNCTION opsledger_note_run_pruned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.operation_run_id IS NOT NULL AND NEW.operation_run_id IS NULL
     AND coalesce(current_setting('opsledger.pruning', true), '') = 'on' THEN
    NEW.run_pruned_at := now();
  END IF;
  RETURN NEW;
END
$$;

ALTER TABLE inventory_sync_runs ADD COLUMN run_pruned_at timestamptz;
ALTER TABLE inventory_sync_runs DROP CONSTRAINT inventory_sync_runs_run_fkey;
ALTER TABLE inventory_sync_runs ADD CONSTRAINT inventory_sync_runs_run_fkey FOREIGN KEY (tenant_id, operation_run_id)
  REFERENCES operation_runs (tenant_id, id) ON DELETE SET NULL (operation_run_id);
CREATE TRIGGER inventory_sync_runs_note_pruned BEFORE UPDATE OF operation_run_id ON inventory_sync_runs
  FOR EACH ROW EXECUTE FUNCTION opsledger_note_run_pruned();

ALTER TABLE drift_generation_runs ADD COLUMN run_pruned_at timestamptz;
ALTER TABLE drift_generation_runs DROP CONSTRAINT drift_generation_runs_run_fkey;
ALTER TABLE drift_generation_runs ADD CONSTRAINT drift_generation_runs_run_fkey FOREIGN KEY (tenant_id, operation_run_id)
  REFERENCES operation_runs (tenant_id, id) ON DELETE SET NULL (operation_run_id);
CREATE TRIGGER drift_generation_runs_note_pruned BEFORE UPDATE OF operation_run_id ON drift_generation_runs
  FOR EACH ROW EXECUTE FUNCTION opsledger_note_run_pruned();

-- Drift findings belong to their generation, whose id is the run that produced it. They outlive the
-- run: the id stays as the generation's name, without a foreign key that would take them with it.
ALTER TABLE drift_findings DROP CONSTRAINT drift_findings_run_fkey;
COMMENT ON COLUMN drift_findings.operation_run_id IS
  'the drift generation (the run that produced the findings); kept after the run is pruned';
CREATE INDEX drift_findings_baseline_idx ON drift_findings (tenant_id, baseline_id, created_at DESC);

-- ---- restore records: retries, prune marker, the mirror trigger ------------------------------

ALTER TABLE restore_runs ADD COLUMN run_pruned_at timestamptz;
ALTER TABLE restore_runs ADD COLUMN retry_of_restore_run_id uuid;
ALTER TABLE restore_runs ADD CONSTRAINT restore_runs_retry_of_fkey FOREIGN KEY (tenant_id, retry_of_restore_run_id)
  REFERENCES restore_runs (tenant_id, id) ON DELETE SET NULL (retry_of_restore_run_id);
CREATE TRIGGER restore_runs_note_pruned BEFORE UPDATE OF operation_run_id ON restore_runs
  FOR EACH ROW EXECUTE FUNCTION opsledger_note_run_pruned();

-- Every change of a restore record has a distinct, higher version, whoever writes it: a writer that
-- does not know about versions gets the next one; a state older than the record's (a late or
-- reordered delivery) is dropped; the same state again is no change. Moving only the mirror link
-- is not a change of the restore.
CREATE FUNCTION restore_runs_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF to_jsonb(NEW) - ARRAY['operation_run_id', 'run_pruned_at', 'updated_at']
     = to_jsonb(OLD) - ARRAY['operation_run_id', 'run_pruned_at', 'updated_at'] THEN
    RETURN NEW;
  END IF;
  IF NEW.version < OLD.version THEN
    RETURN NULL;
  END IF;
  IF NEW.version = OLD.version THEN
    NEW.version := OLD.version + 1;
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END
$$;
CREATE TRIGGER restore_runs_version BEFORE UPDATE ON restore_runs
  FOR EACH ROW EXECUTE FUNCTION restore_runs_version();

-- A restore record as the ledger sees it (status mapped, counts and failures from the item
-- results), applied to its mirror, and the record linked to the mirror. Used by the trigger and by
-- `backfill` for records older than the trigger. Reads and writes only the record's tenant.
CREATE FUNCTION restore_run_sync_mirror(p_tenant_id uuid, p_id uuid) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  rr restore_runs;
  counts jsonb;
  failures jsonb;
  mirror_id uuid;
BEGIN
  SELECT * INTO rr FROM restore_runs WHERE tenant_id = p_tenant_id AND id = p_id;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  SELECT jsonb_build_object(
           'total', count(*),
           'created', count(*) FILTER (WHERE result = 'succeeded' AND action = 'create'),
           'updated', count(*) FILTER (WHERE result = 'succeeded' AND action = 'update'),
           'unchanged', count(*) FILTER (WHERE result = 'succeeded' AND action IS DISTINCT FROM 'create'
                                                                    AND action IS DISTINCT FROM 'update'),
           'failed', count(*) FILTER (WHERE result = 'failed'),
           'skipped', count(*) FILTER (WHERE result = 'skipped'))
    INTO counts
    FROM restore_run_items WHERE tenant_id = p_tenant_id AND restore_run_id = p_id;
  -- The record's own error first, then the failed items; bounded like every failure summary.
  -- Messages are shortened here and redacted again wherever a run leaves the ledger.
  SELECT coalesce(jsonb_agg(f ORDER BY n), '[]'::jsonb) INTO failures FROM (
    SELECT n, f FROM (
      SELECT 0::bigint AS n,
             jsonb_build_object('code', left(rr.error_code, 64), 'message', left(rr.error_message, 500)) AS f
        WHERE rr.error_code IS NOT NULL AND rr.error_message IS NOT NULL
      UNION ALL
      SELECT row_number() OVER (ORDER BY family, external_id),
             jsonb_build_object('code', left(coalesce(error_code, 'restore_item_failed'), 64),
                                'message', left(family || '/' || external_id || ': ' || coalesce(error_message, 'failed'), 500))
        FROM restore_run_items
        WHERE tenant_id = p_tenant_id AND restore_run_id = p_id AND result = 'failed'
    ) all_failures ORDER BY n LIMIT 20
  ) bounded;
  PERFORM opsledger_mirror_apply(
    rr.tenant_id, 'restore.execute', 'restore_run', rr.id::text, rr.version,
    CASE rr.status WHEN 'pending' THEN 'queued' WHEN 'running' THEN 'running' ELSE 'completed' END,
    CASE rr.status WHEN 'completed' THEN 'succeeded' WHEN 'completed_with_errors' THEN 'partially_succeeded'
                   WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'cancelled' ELSE 'pending' END,
    counts, failures,
    -- A user initiator without a user id (possible from another writer) is not a user the ledger knows.
    CASE WHEN rr.initiator_kind = 'user' AND rr.initiator_user_id IS NULL THEN 'system' ELSE rr.initiator_kind END,
    rr.initiator_user_id, rr.initiator_name,
    jsonb_build_object('restoreRunId', rr.id::text, 'backupSetId', rr.backup_set_id::text),
    rr.created_at, rr.started_at, rr.completed_at, rr.operation_run_id);
  SELECT id INTO mirror_id FROM operation_runs
    WHERE tenant_id = p_tenant_id AND source_type = 'restore_run' AND source_id = p_id::text;
  IF mirror_id IS NOT NULL AND rr.operation_run_id IS DISTINCT FROM mirror_id THEN
    UPDATE restore_runs SET operation_run_id = mirror_id WHERE tenant_id = p_tenant_id AND id = p_id;
  END IF;
  RETURN mirror_id;
END
$$;

-- SECURITY DEFINER: another application's role may write restore_runs without any right on
-- operation_runs or Opsledger's tenant setting. The function is safe to run with the owner's rights
-- because a trigger function cannot be called directly and it only ever touches the mirror of the
-- row that fired it, in that row's tenant (which already passed restore_runs' own row security).
CREATE FUNCTION restore_runs_mirror() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
  -- Only the link moved (the mirror was linked or pruned): nothing to mirror.
  IF TG_OP = 'UPDATE' AND NEW.version = OLD.version THEN
    RETURN NULL;
  END IF;
  PERFORM restore_run_sync_mirror(NEW.tenant_id, NEW.id);
  RETURN NULL;
END
$$;
CREATE TRIGGER restore_runs_mirror AFTER INSERT OR UPDATE ON restore_runs
  FOR EACH ROW EXECUTE FUNCTION restore_runs_mirror();
