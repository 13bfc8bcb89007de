-- Every process learns at once that a credential or a membership ended, so its open event streams
-- of that caller end within a second instead of at their next periodic re-check.
--
-- Any database login can LISTEN (issue 18), so the notice names nothing: no tenant, user, token or
-- session. It carries an opaque random value, one per transaction (pg_notify sends a repeated
-- payload once per transaction), and each process answers it by re-checking the credentials and
-- memberships of all its open streams. The channel name is ACCESS_CHANNEL in
-- src/access/access-changes.ts.
CREATE FUNCTION opsledger_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  epoch text := current_setting('opsledger.access_epoch', true);
BEGIN
  IF epoch IS NULL OR epoch = '' THEN
    epoch := md5(random()::text || clock_timestamp()::text);
    PERFORM set_config('opsledger.access_epoch', epoch, true);
  END IF;
  PERFORM pg_notify('opsledger_access', epoch);
  RETURN NULL;
END
$$;

-- A session ends by its deletion (sign-out, expiry swept at sign-in, the user's deletion).
CREATE TRIGGER sessions_access_changed AFTER DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION opsledger_access_changed();
CREATE TRIGGER api_tokens_access_revoked AFTER UPDATE OF revoked_at ON api_tokens
  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
  EXECUTE FUNCTION opsledger_access_changed();
CREATE TRIGGER api_tokens_access_deleted AFTER DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION opsledger_access_changed();
CREATE TRIGGER memberships_access_removed AFTER DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION opsledger_access_changed();
CREATE TRIGGER memberships_access_role AFTER UPDATE OF role ON memberships
  FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
  EXECUTE FUNCTION opsledger_access_changed();
