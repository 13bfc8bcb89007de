-- The mirror tells the truth (issue 18).
--
-- 1. A mirror whose domain record is deleted, by whatever writer, is completed in the deleting
--    transaction: outcome failed, code source_deleted. It never stays queued or running.
-- 2. A mirror found to disagree with its record (by the periodic mirror check, not only by a person
--    running `verify`) carries a mark: operation_runs.divergence = {detectedAt, detail}. The mark is
--    an annotation about the run, not a change of it: the one column a completed run may still
--    change.

-- ---- the divergence mark ----------------------------------------------------------------------

ALTER TABLE operation_runs ADD COLUMN divergence jsonb
  CHECK (divergence IS NULL OR (jsonb_typeof(divergence) = 'object' AND length(divergence ->> 'detail') <= 1000));
-- The metric counts the marked runs of every tenant at each scrape: a small, indexed set.
CREATE INDEX operation_runs_divergent_idx ON operation_runs (tenant_id, id) WHERE divergence IS NOT NULL;

CREATE OR REPLACE FUNCTION operation_runs_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'completed' THEN
    -- The one change allowed: pruning the run a retry pointed at clears the link (ON DELETE SET NULL).
    IF OLD.retry_of_run_id IS NOT NULL AND NEW.retry_of_run_id IS NULL
       AND to_jsonb(NEW) - 'retry_of_run_id' = to_jsonb(OLD) - 'retry_of_run_id' THEN
      RETURN NEW;
    END IF;
    -- The mirror check marks (or clears) a disagreement with the record; nothing else moves.
    IF to_jsonb(NEW) - ARRAY['divergence', 'updated_at'] = to_jsonb(OLD) - ARRAY['divergence', 'updated_at']
       AND NEW.divergence IS DISTINCT FROM OLD.divergence THEN
      NEW.updated_at := now();
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

-- ---- a deleted record completes its mirror ---------------------------------------------------

-- Completes the active mirror of a source that no longer exists: failed, with source_deleted first
-- in its failure summary (bounded like every summary). What the work did is not known any more, so
-- it is not called succeeded, nor cancelled (nobody asked it to stop). Returns the mirror's id when
-- it completed one.
CREATE FUNCTION opsledger_mirror_source_deleted(p_tenant_id uuid, p_source_type text, p_source_id text,
                                                p_message text) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  done uuid;
BEGIN
  UPDATE operation_runs
    SET status = 'completed', outcome = 'failed', completed_at = now(),
        failure_summary = (
          SELECT coalesce(jsonb_agg(f ORDER BY n), '[]'::jsonb) FROM (
            SELECT 0::bigint AS n, jsonb_build_object('code', 'source_deleted', 'message', left(p_message, 500)) AS f
            UNION ALL
            SELECT e.n, e.f FROM jsonb_array_elements(failure_summary) WITH ORDINALITY AS e(f, n)
            ORDER BY n LIMIT 20
          ) bounded)
    WHERE tenant_id = p_tenant_id AND source_type = p_source_type AND source_id = p_source_id
      AND status <> 'completed'
    RETURNING id INTO done;
  RETURN done;
END
$$;

-- SECURITY DEFINER for the reason restore_runs_mirror is (migration 0004): another application's
-- role deletes its record without any right on operation_runs; only that record's mirror, in that
-- record's tenant, is touched.
CREATE FUNCTION restore_runs_deleted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM opsledger_mirror_source_deleted(OLD.tenant_id, 'restore_run', OLD.id::text,
    'its restore record was deleted before it completed; what it restored is not known');
  RETURN NULL;
END
$$;
CREATE TRIGGER restore_runs_deleted AFTER DELETE ON restore_runs
  FOR EACH ROW EXECUTE FUNCTION restore_runs_deleted();
