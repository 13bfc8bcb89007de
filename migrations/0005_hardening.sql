-- Confining the application role, and invitations instead of adding any account to a tenant.

-- 1. The tenant of a transaction cannot be re-set from inside it. The setting
--    opsledger.tenant_id is accompanied by a signature over (tenant, backend, transaction start)
--    with a key only the owner can read; policies trust the tenant only when the signature holds.
--    The application role can change the setting, never sign a new one.
CREATE TABLE tenant_binding_key (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  key text NOT NULL
);
INSERT INTO tenant_binding_key (key)
  VALUES (replace(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
REVOKE ALL ON tenant_binding_key FROM PUBLIC;

CREATE FUNCTION opsledger_tenant_signature(t uuid) RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT encode(sha256(convert_to(
      k.key || '|' || t::text || '|' || pg_backend_pid()::text || '|'
        || extract(epoch FROM transaction_timestamp())::text, 'UTF8')), 'hex')
    FROM tenant_binding_key k
  $$;
REVOKE EXECUTE ON FUNCTION opsledger_tenant_signature(uuid) FROM PUBLIC;

-- The tenant this transaction was bound to, or null (which matches no row).
CREATE FUNCTION opsledger_tenant() RETURNS uuid
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  DECLARE
    t uuid := nullif(current_setting('opsledger.tenant_id', true), '')::uuid;
  BEGIN
    IF t IS NULL
       OR current_setting('opsledger.tenant_sig', true) IS DISTINCT FROM opsledger_tenant_signature(t) THEN
      RETURN NULL;
    END IF;
    RETURN t;
  END
  $$;
-- Every role may call it (policies name it for every role, and a role that may not execute it
-- could not use the table at all); it tells a caller nothing beyond its own transaction's tenant.
GRANT EXECUTE ON FUNCTION opsledger_tenant() TO PUBLIC;

DO $$
DECLARE
  r record;
  col text;
BEGIN
  FOR r IN SELECT tablename FROM pg_policies
           WHERE schemaname = 'public' AND policyname = 'tenant_isolation' LOOP
    col := CASE WHEN r.tablename = 'tenants' THEN 'id' ELSE 'tenant_id' END;
    EXECUTE format($p$ALTER POLICY tenant_isolation ON %I
      USING (current_user <> 'opsledger_app' OR %I = opsledger_tenant())$p$, r.tablename, col);
    IF r.tablename <> 'tenants' THEN
      EXECUTE format($p$ALTER POLICY tenant_isolation ON %I
        WITH CHECK (current_user <> 'opsledger_app' OR %I = opsledger_tenant())$p$, r.tablename, col);
    END IF;
  END LOOP;
END
$$;

-- 2. Users: inside a tenant transaction, only the tenant's members are visible (names and emails
--    of everyone else are not the tenant's business).
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY member_of_tenant ON users
  USING (current_user <> 'opsledger_app'
         OR EXISTS (SELECT 1 FROM memberships m
                    WHERE m.user_id = users.id AND m.tenant_id = opsledger_tenant()));

-- 3. Invitations: an owner names an email and a role; the person behind the email joins only by
--    accepting. The owner's answer is the same whether or not the email belongs to anyone.
CREATE TABLE invitations (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- Stored lower-cased: one invitation per tenant and address.
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320 AND email = lower(email)),
  role text NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, email)
);
-- "Which invitations are waiting for me" crosses tenants by design.
CREATE INDEX invitations_email_idx ON invitations (email);

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
  USING (current_user <> 'opsledger_app' OR tenant_id = opsledger_tenant())
  WITH CHECK (current_user <> 'opsledger_app' OR tenant_id = opsledger_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON invitations TO opsledger_app;
