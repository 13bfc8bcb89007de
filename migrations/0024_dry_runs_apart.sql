-- Dry runs apart (issue 21). A dry run changes nothing, so the Overview counts it as its own row
-- ("Restore (dry run)") instead of as the work it rehearses: a failed dry run is visible, and it does
-- not raise the failure rate of real restores.
--
-- A run is a dry run when its inputs say so: context.inputs.dryRun = true (operation_run_is_dry_run).
--
-- 1. A mirror created inside the database (a domain record written by another application, or by
--    the demo's history) now carries the inputs of its record, as a run started by Opsledger does:
--    opsledger_mirror_apply takes them (p_inputs), and a restore record's mirror gets its backup and
--    its dry-run flag. Mirrors that exist get theirs here, once.
-- 2. The daily rollup of migration 0013 is kept per dry-run flag as well: the key is now (tenant,
--    day, type, dry_run), and the rollup is rebuilt from the runs.

CREATE FUNCTION operation_run_is_dry_run(context jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(context -> 'inputs' -> 'dryRun' = 'true'::jsonb, false)
$$;

-- ---- mirrors carry their record's inputs ------------------------------------------------------

DROP FUNCTION opsledger_mirror_apply(uuid, text, text, text, integer, text, text, jsonb, jsonb,
  text, uuid, text, jsonb, timestamptz, timestamptz, timestamptz, uuid);

-- As in migration 0004, and p_inputs: the inputs a mirror it creates keeps (a mirror of a run that
-- Opsledger started keeps that run's own).
CREATE FUNCTION opsledger_mirror_apply(
  p_tenant_id uuid, p_type text, p_source_type text, p_source_id text, p_version integer,
  p_status text, p_outcome text, p_counts jsonb, p_failures jsonb,
  p_initiator_kind text, p_initiator_user_id uuid, p_initiator_name text, p_links jsonb,
  p_created_at timestamptz, p_started_at timestamptz, p_completed_at timestamptz,
  p_run_id uuid DEFAULT NULL, p_inputs jsonb DEFAULT NULL
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
                || CASE WHEN p_links IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('links', p_links) END
                || CASE WHEN p_inputs IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('inputs', p_inputs) END,
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
GRANT EXECUTE ON FUNCTION opsledger_mirror_apply(uuid, text, text, text, integer, text, text, jsonb, jsonb,
  text, uuid, text, jsonb, timestamptz, timestamptz, timestamptz, uuid, jsonb) TO opsledger_app;

-- As in migration 0004, with the record's backup and dry-run flag as the mirror's inputs.
CREATE OR REPLACE FUNCTION restore_run_sync_mirror(p_tenant_id uuid, p_id uuid) RETURNS uuid LANGUAGE plpgsql AS $$
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
    rr.created_at, rr.started_at, rr.completed_at, rr.operation_run_id,
    jsonb_build_object('backupId', rr.backup_set_id::text, 'dryRun', rr.dry_run));
  SELECT id INTO mirror_id FROM operation_runs
    WHERE tenant_id = p_tenant_id AND source_type = 'restore_run' AND source_id = p_id::text;
  IF mirror_id IS NOT NULL AND rr.operation_run_id IS DISTINCT FROM mirror_id THEN
    UPDATE restore_runs SET operation_run_id = mirror_id WHERE tenant_id = p_tenant_id AND id = p_id;
  END IF;
  RETURN mirror_id;
END
$$;

-- Mirrors that exist: their record's inputs, once. A completed run never changes (the guard
-- trigger) and the notify trigger would announce every row: both stand aside for this statement,
-- as in migration 0019. The inputs add to what the run says; nothing it said changes.
ALTER TABLE operation_runs DISABLE TRIGGER operation_runs_guard;
ALTER TABLE operation_runs DISABLE TRIGGER operation_runs_notify_update;
UPDATE operation_runs m
   SET context = m.context || jsonb_build_object('inputs',
         jsonb_build_object('backupId', r.backup_set_id::text, 'dryRun', r.dry_run))
  FROM restore_runs r
 WHERE m.tenant_id = r.tenant_id AND m.source_type = 'restore_run' AND m.source_id = r.id::text
   AND NOT (m.context ? 'inputs');
ALTER TABLE operation_runs ENABLE TRIGGER operation_runs_notify_update;
ALTER TABLE operation_runs ENABLE TRIGGER operation_runs_guard;

-- ---- the daily rollup, per dry-run flag -------------------------------------------------------

ALTER TABLE operation_run_daily_stats ADD COLUMN dry_run boolean NOT NULL DEFAULT false;
ALTER TABLE operation_run_daily_stats DROP CONSTRAINT operation_run_daily_stats_pkey;
ALTER TABLE operation_run_daily_stats ADD PRIMARY KEY (tenant_id, day, type, dry_run);

-- As in migration 0013, keyed by the dry-run flag too.
CREATE OR REPLACE FUNCTION operation_run_daily_stats_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  source text;
  one text := $q$SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, type,
      operation_run_is_dry_run(context) AS dry_run, outcome,
      CASE WHEN status = 'completed' AND started_at IS NOT NULL
           THEN operation_run_duration_bucket(started_at, completed_at) END AS bucket, %s AS sign FROM %s$q$;
BEGIN
  source := CASE TG_OP
    WHEN 'INSERT' THEN format(one, '1', 'new_rows')
    WHEN 'DELETE' THEN format(one, '-1', 'old_rows')
    ELSE format(one, '1', 'new_rows') || ' UNION ALL ' || format(one, '-1', 'old_rows') END;
  EXECUTE format($q$
    WITH changes AS (
      SELECT tenant_id, day, type, dry_run, outcome, bucket, sum(sign) AS n FROM (%s) x
      GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(sign) <> 0
    )
    INSERT INTO operation_run_daily_stats AS d
      (tenant_id, day, type, dry_run, pending, succeeded, partially_succeeded, failed, cancelled, durations)
    SELECT tenant_id, day, type, dry_run,
      coalesce(sum(n) FILTER (WHERE outcome = 'pending'), 0),
      coalesce(sum(n) FILTER (WHERE outcome = 'succeeded'), 0),
      coalesce(sum(n) FILTER (WHERE outcome = 'partially_succeeded'), 0),
      coalesce(sum(n) FILTER (WHERE outcome = 'failed'), 0),
      coalesce(sum(n) FILTER (WHERE outcome = 'cancelled'), 0),
      operation_run_histogram(array_agg(bucket) FILTER (WHERE bucket IS NOT NULL),
                              array_agg(n) FILTER (WHERE bucket IS NOT NULL))
    FROM changes GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (tenant_id, day, type, dry_run) DO UPDATE SET
      pending = d.pending + excluded.pending,
      succeeded = d.succeeded + excluded.succeeded,
      partially_succeeded = d.partially_succeeded + excluded.partially_succeeded,
      failed = d.failed + excluded.failed,
      cancelled = d.cancelled + excluded.cancelled,
      durations = operation_run_histogram_add(d.durations, excluded.durations)$q$, source);
  IF TG_OP = 'DELETE' THEN
    -- Days emptied by pruning go with their runs.
    DELETE FROM operation_run_daily_stats d
      USING (SELECT DISTINCT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, type,
                    operation_run_is_dry_run(context) AS dry_run FROM old_rows) g
    WHERE d.tenant_id = g.tenant_id AND d.day = g.day AND d.type = g.type AND d.dry_run = g.dry_run
      AND d.pending = 0 AND d.succeeded = 0 AND d.partially_succeeded = 0 AND d.failed = 0 AND d.cancelled = 0;
  END IF;
  RETURN NULL;
END
$$;

-- As in migration 0013, keyed by the dry-run flag too.
CREATE OR REPLACE FUNCTION operation_run_daily_stats_rebuild(tenant uuid) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  written integer;
BEGIN
  -- Writes to the tenant's runs wait until the rebuild commits, so none is counted twice or lost.
  LOCK TABLE operation_run_daily_stats IN SHARE ROW EXCLUSIVE MODE;
  DELETE FROM operation_run_daily_stats WHERE tenant_id = tenant;
  INSERT INTO operation_run_daily_stats
    (tenant_id, day, type, dry_run, pending, succeeded, partially_succeeded, failed, cancelled, durations)
  SELECT tenant_id, day, type, dry_run,
    coalesce(sum(n) FILTER (WHERE outcome = 'pending'), 0),
    coalesce(sum(n) FILTER (WHERE outcome = 'succeeded'), 0),
    coalesce(sum(n) FILTER (WHERE outcome = 'partially_succeeded'), 0),
    coalesce(sum(n) FILTER (WHERE outcome = 'failed'), 0),
    coalesce(sum(n) FILTER (WHERE outcome = 'cancelled'), 0),
    operation_run_histogram(array_agg(bucket) FILTER (WHERE bucket IS NOT NULL),
                            array_agg(n) FILTER (WHERE bucket IS NOT NULL))
  FROM (
    SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, type,
      operation_run_is_dry_run(context) AS dry_run, outcome,
      CASE WHEN status = 'completed' AND started_at IS NOT NULL
           THEN operation_run_duration_bucket(started_at, completed_at) END AS bucket,
      count(*) AS n
    FROM operation_runs WHERE tenant_id = tenant
    GROUP BY 1, 2, 3, 4, 5, 6
  ) c
  GROUP BY 1, 2, 3, 4;
  GET DIAGNOSTICS written = ROW_COUNT;
  RETURN written;
END
$$;

-- Every tenant's rollup, recounted with the flag.
DO $$
DECLARE
  t uuid;
BEGIN
  FOR t IN SELECT id FROM tenants LOOP
    PERFORM operation_run_daily_stats_rebuild(t);
  END LOOP;
END
$$;
