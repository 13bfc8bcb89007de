-- Row-level security asks for the transaction's tenant once per statement, not once per row.
--
-- opsledger_tenant() checks the tenant's signature (a SHA-256 over a key read from a table) each
-- time it is called. Called bare in a policy, the executor calls it for every row it looks at:
-- the first page of 50 runs cost ~50 signature checks, and the statement took 15× as long as
-- without row-level security. Wrapped in a scalar subquery it is an InitPlan, evaluated once per
-- statement and compared as a value. The policies mean exactly what they meant before.
DO $$
DECLARE
  r record;
  col text;
BEGIN
  FOR r IN SELECT tablename FROM pg_policies
           WHERE schemaname = 'public' AND policyname = 'tenant_isolation' LOOP
    col := CASE WHEN r.tablename = 'tenants' THEN 'id' ELSE 'tenant_id' END;
    EXECUTE format($p$ALTER POLICY tenant_isolation ON %I
      USING (current_user <> 'opsledger_app' OR %I = (SELECT opsledger_tenant()))$p$, r.tablename, col);
    IF r.tablename <> 'tenants' THEN
      EXECUTE format($p$ALTER POLICY tenant_isolation ON %I
        WITH CHECK (current_user <> 'opsledger_app' OR %I = (SELECT opsledger_tenant()))$p$, r.tablename, col);
    END IF;
  END LOOP;
END
$$;

ALTER POLICY member_of_tenant ON users
  USING (current_user <> 'opsledger_app'
         OR EXISTS (SELECT 1 FROM memberships m
                    WHERE m.user_id = users.id AND m.tenant_id = (SELECT opsledger_tenant())));
