-- The Overview's statistics from a rollup instead of every run: per tenant, UTC day of creation
-- and type, the runs by outcome and a histogram of the durations of those completed with a start.
-- A 30-day window then reads about 30 rows per type however many runs the tenant has.
--
-- Kept by statement triggers on operation_runs, in the transaction of the change, so it is exact
-- for counts whatever writes the runs: a start, a completion, a retry (a new run), the restore
-- mirror, a history import (one statement, one aggregate over its rows) and retention pruning (a
-- delete subtracts). Loads that bypass triggers (session_replication_role = replica, as the
-- benchmark's generator does) must rebuild it afterwards: `opsledger stats:rebuild`, which
-- recomputes a tenant's rows from its runs with operation_run_daily_stats_rebuild().
--
-- Durations cannot be summed exactly as percentiles; the histogram's buckets are log-scale,
-- eight per doubling: bucket 0 holds durations under 1 ms, bucket i >= 1 holds
-- [2^((i-1)/8), 2^(i/8)) ms, and bucket 255 everything from about 42 days up. A quantile read from
-- it (the bucket of the nearest-rank run, reported at the bucket's geometric middle) is within
-- 2^(1/16) - 1 = 4.5% of that run's duration, or under 1 ms off below 1 ms.

CREATE FUNCTION operation_run_duration_bucket(started timestamptz, completed timestamptz)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN ms IS NULL THEN NULL
              WHEN ms < 1 THEN 0
              ELSE least(255, 1 + floor(8 * ln(ms) / ln(2.0::float8)))::integer END
  FROM (SELECT (extract(epoch FROM completed - started) * 1000)::float8 AS ms) s
$$;

-- A dense histogram (index 1 is bucket 0) from parallel arrays of buckets and counts; a bucket
-- may appear more than once.
CREATE FUNCTION operation_run_histogram(buckets integer[], counts bigint[])
RETURNS integer[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(coalesce(n, 0)::integer ORDER BY i), '{}')
  FROM generate_series(0, coalesce((SELECT max(b) FROM unnest(buckets) b), -1)) i
  LEFT JOIN LATERAL (SELECT sum(c) AS n FROM unnest(buckets, counts) u(b, c) WHERE u.b = i) s ON true
$$;

-- Element-wise a + b, the shorter padded with zeros.
CREATE FUNCTION operation_run_histogram_add(a integer[], b integer[])
RETURNS integer[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i), '{}')
  FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)
$$;

CREATE TABLE operation_run_daily_stats (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day date NOT NULL,
  type text NOT NULL,
  pending integer NOT NULL DEFAULT 0,
  succeeded integer NOT NULL DEFAULT 0,
  partially_succeeded integer NOT NULL DEFAULT 0,
  failed integer NOT NULL DEFAULT 0,
  cancelled integer NOT NULL DEFAULT 0,
  -- Completed runs with a start, by duration bucket (operation_run_duration_bucket); index 1 is bucket 0.
  durations integer[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, day, type)
);

ALTER TABLE operation_run_daily_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE operation_run_daily_stats FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON operation_run_daily_stats
  USING (current_user <> 'opsledger_app' OR tenant_id = (SELECT opsledger_tenant()))
  WITH CHECK (current_user <> 'opsledger_app' OR tenant_id = (SELECT opsledger_tenant()));
-- Written by the trigger in the run's own (tenant) transaction, so the app role writes it too.
GRANT SELECT, INSERT, UPDATE, DELETE ON operation_run_daily_stats TO opsledger_app;

-- Adds the net change of a statement's rows: `changes` has one row per (tenant, day, type,
-- outcome, bucket) with the signed number of runs. Rows are upserted in key order, so two
-- statements touching the same days cannot deadlock on them.
CREATE FUNCTION operation_run_daily_stats_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  source text;
  one text := $q$SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, type, outcome,
      CASE WHEN status = 'completed' AND started_at IS NOT NULL
           THEN operation_run_duration_bucket(started_at, completed_at) END AS bucket, %s AS sign FROM %s$q$;
BEGIN
  source := CASE TG_OP
    WHEN 'INSERT' THEN format(one, '1', 'new_rows')
    WHEN 'DELETE' THEN format(one, '-1', 'old_rows')
    ELSE format(one, '1', 'new_rows') || ' UNION ALL ' || format(one, '-1', 'old_rows') END;
  EXECUTE format($q$
    WITH changes AS (
      SELECT tenant_id, day, type, outcome, bucket, sum(sign) AS n FROM (%s) x
      GROUP BY 1, 2, 3, 4, 5 HAVING sum(sign) <> 0
    )
    INSERT INTO operation_run_daily_stats AS d
      (tenant_id, day, type, pending, succeeded, partially_succeeded, failed, cancelled, durations)
    SELECT tenant_id, day, type,
      coalesce(sum(n) FILTER (WHERE outcome = 'pending'), 0),
      coalesce(sum(n) FILTER (WHERE outcome = 'succeeded'), 0),
      coalesce(sum(n) FILTER (WHERE outcome = 'partially_succeeded'), 0),
      coalesce(sum(n) FILTER (WHERE outcome = 'failed'), 0),
      coalesce(sum(n) FILTER (WHERE outcome = 'cancelled'), 0),
      operation_run_histogram(array_agg(bucket) FILTER (WHERE bucket IS NOT NULL),
                              array_agg(n) FILTER (WHERE bucket IS NOT NULL))
    FROM changes GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, day, type) DO UPDATE SET
      pending = d.pending + excluded.pending,
      succeeded = d.succeeded + excluded.succeeded,
      partially_succeeded = d.partially_succeeded + excluded.partially_succeeded,
      failed = d.failed + excluded.failed,
      cancelled = d.cancelled + excluded.cancelled,
      durations = operation_run_histogram_add(d.durations, excluded.durations)$q$, source);
  IF TG_OP = 'DELETE' THEN
    -- Days emptied by pruning go with their runs.
    DELETE FROM operation_run_daily_stats d USING (SELECT DISTINCT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, type FROM old_rows) g
    WHERE d.tenant_id = g.tenant_id AND d.day = g.day AND d.type = g.type
      AND d.pending = 0 AND d.succeeded = 0 AND d.partially_succeeded = 0 AND d.failed = 0 AND d.cancelled = 0;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER operation_run_daily_stats_insert AFTER INSERT ON operation_runs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_run_daily_stats_apply();
CREATE TRIGGER operation_run_daily_stats_update AFTER UPDATE ON operation_runs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_run_daily_stats_apply();
CREATE TRIGGER operation_run_daily_stats_delete AFTER DELETE ON operation_runs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_run_daily_stats_apply();

-- Recomputes one tenant's rollup from its runs (after a load that bypassed the triggers, or to
-- check it). Returns the rows written.
CREATE FUNCTION operation_run_daily_stats_rebuild(tenant uuid) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  written integer;
BEGIN
  -- Writes to the tenant's runs wait until the rebuild commits, so none is counted twice or lost.
  LOCK TABLE operation_run_daily_stats IN SHARE ROW EXCLUSIVE MODE;
  DELETE FROM operation_run_daily_stats WHERE tenant_id = tenant;
  INSERT INTO operation_run_daily_stats
    (tenant_id, day, type, pending, succeeded, partially_succeeded, failed, cancelled, durations)
  SELECT tenant_id, day, type,
    coalesce(sum(n) FILTER (WHERE outcome = 'pending'), 0),
    coalesce(sum(n) FILTER (WHERE outcome = 'succeeded'), 0),
    coalesce(sum(n) FILTER (WHERE outcome = 'partially_succeeded'), 0),
    coalesce(sum(n) FILTER (WHERE outcome = 'failed'), 0),
    coalesce(sum(n) FILTER (WHERE outcome = 'cancelled'), 0),
    operation_run_histogram(array_agg(bucket) FILTER (WHERE bucket IS NOT NULL),
                            array_agg(n) FILTER (WHERE bucket IS NOT NULL))
  FROM (
    SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, type, outcome,
      CASE WHEN status = 'completed' AND started_at IS NOT NULL
           THEN operation_run_duration_bucket(started_at, completed_at) END AS bucket,
      count(*) AS n
    FROM operation_runs WHERE tenant_id = tenant
    GROUP BY 1, 2, 3, 4, 5
  ) c
  GROUP BY 1, 2, 3;
  GET DIAGNOSTICS written = ROW_COUNT;
  RETURN written;
END
$$;

-- Runs that exist now are counted once, here.
DO $$
DECLARE
  t uuid;
BEGIN
  FOR t IN SELECT id FROM tenants LOOP
    PERFORM operation_run_daily_stats_rebuild(t);
  END LOOP;
END
$$;
