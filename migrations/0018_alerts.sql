-- Alerts: per tenant, notification targets (signed outbound webhooks) with rules, and the log of
-- their deliveries. A delivery is one (target, run, event): its idempotency key is unique, so any
-- number of processes noticing the same failed run create one delivery and queue one job.

CREATE TABLE notification_targets (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  kind text NOT NULL DEFAULT 'webhook' CHECK (kind IN ('webhook')),
  -- The URL can itself be a credential (a chat webhook's path): stored encrypted, shown masked.
  url_encrypted text NOT NULL,
  url_display text NOT NULL CHECK (length(url_display) <= 300),
  -- The signing secret, encrypted like a Graph client secret; shown once, at creation.
  secret_encrypted text NOT NULL,
  -- Empty: every type.
  types text[] NOT NULL DEFAULT '{}' CHECK (cardinality(types) <= 50),
  outcomes text[] NOT NULL DEFAULT '{failed}'
    CHECK (outcomes <@ ARRAY['failed', 'partially_succeeded']::text[]),
  -- Also alert on a run still active this many minutes after it was created (null: never).
  longer_than_minutes integer CHECK (longer_than_minutes BETWEEN 1 AND 10080),
  enabled boolean NOT NULL DEFAULT true,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT notification_targets_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE notification_deliveries (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  target_id uuid NOT NULL,
  -- Null for a test delivery.
  run_id uuid,
  event text NOT NULL CHECK (event IN ('run.failed', 'run.partially_succeeded', 'run.long_running', 'test')),
  idempotency_key text NOT NULL CHECK (length(idempotency_key) <= 200),
  -- The JSON body, fixed when the delivery is created so every try sends the same bytes' meaning.
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_status_code integer,
  last_error text CHECK (length(last_error) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT notification_deliveries_once UNIQUE (tenant_id, idempotency_key),
  CONSTRAINT notification_deliveries_target_fkey FOREIGN KEY (tenant_id, target_id)
    REFERENCES notification_targets (tenant_id, id) ON DELETE CASCADE,
  -- Pruned with its run.
  CONSTRAINT notification_deliveries_run_fkey FOREIGN KEY (tenant_id, run_id)
    REFERENCES operation_runs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX notification_deliveries_target_idx
  ON notification_deliveries (tenant_id, target_id, created_at DESC);

-- Every try of a delivery: when, what the receiver answered (a bounded, redacted excerpt), how long.
CREATE TABLE notification_delivery_attempts (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  delivery_id uuid NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  attempt integer NOT NULL,
  status_code integer,
  response_excerpt text CHECK (length(response_excerpt) <= 500),
  error text CHECK (length(error) <= 500),
  duration_ms integer NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT notification_delivery_attempts_delivery_fkey FOREIGN KEY (tenant_id, delivery_id)
    REFERENCES notification_deliveries (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX notification_delivery_attempts_delivery_idx
  ON notification_delivery_attempts (tenant_id, delivery_id, at);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['notification_targets', 'notification_deliveries', 'notification_delivery_attempts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (current_user <> 'opsledger_app' OR tenant_id = (SELECT opsledger_tenant()))
      WITH CHECK (current_user <> 'opsledger_app' OR tenant_id = (SELECT opsledger_tenant()))$p$, t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO opsledger_app', t);
  END LOOP;
END
$$;
