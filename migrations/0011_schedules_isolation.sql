-- Schedules fire in isolation (issue 18).
--
-- 1. A firing that cannot start its run is recorded on its own schedule (the error, redacted by the
--    ledger before it is stored) and the evaluator goes on to the next schedule: one tenant's bad
--    schedule never holds back another's.
-- 2. A schedule created by a member who leaves the tenant (or who may no longer start work) is
--    paused, with the reason, in the same transaction as the membership change, whichever path
--    makes it; only someone re-enabling it makes it fire again.

-- {code, message, at} of the last firing when it could not start its run; NULL once one starts.
ALTER TABLE schedules ADD COLUMN last_error jsonb
  CHECK (last_error IS NULL OR (jsonb_typeof(last_error) = 'object'
                                AND length(last_error ->> 'message') <= 600));
-- Why a schedule was paused when the product paused it (NULL when paused by hand or active).
ALTER TABLE schedules ADD COLUMN paused_reason text CHECK (length(paused_reason) <= 200);
ALTER TABLE schedules ADD CONSTRAINT schedules_reason_only_when_paused
  CHECK (paused_reason IS NULL OR paused_at IS NOT NULL);

-- Pauses the schedules a member created when the member leaves the tenant or becomes a viewer.
-- SECURITY DEFINER: the membership may be deleted by a cascade (a user deleted) in a transaction
-- scoped to no tenant; the function touches only the schedules of that membership's tenant.
CREATE FUNCTION memberships_pause_schedules() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
  reason text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    reason := 'its creator was removed from the tenant';
  ELSIF NEW.role = 'viewer' AND OLD.role <> 'viewer' THEN
    reason := 'its creator may no longer start work in the tenant (now a viewer)';
  ELSE
    RETURN NULL;
  END IF;
  UPDATE schedules
    SET paused_at = coalesce(paused_at, now()), next_fire_at = NULL, paused_reason = reason, updated_at = now()
    WHERE tenant_id = OLD.tenant_id AND created_by = OLD.user_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER memberships_pause_schedules AFTER DELETE OR UPDATE OF role ON memberships
  FOR EACH ROW EXECUTE FUNCTION memberships_pause_schedules();

-- Who created a schedule is looked up by the member's schedules when the membership changes.
CREATE INDEX schedules_created_by_idx ON schedules (tenant_id, created_by) WHERE created_by IS NOT NULL;
