-- Credentials with an end: every API token has a scope and an expiry.
--
-- scope: 'read' (read-only) or 'operate' (read, and start / cancel / retry runs, schedules).
-- Nothing that manages members, invitations or credentials is ever open to a token.
ALTER TABLE api_tokens
  ADD COLUMN scope text NOT NULL DEFAULT 'operate' CHECK (scope IN ('read', 'operate')),
  ADD COLUMN expires_at timestamptz;

-- Tokens made before tokens expired keep working, with scope operate, for the default lifetime
-- (90 days) counted from this upgrade; then they end like any other token.
UPDATE api_tokens SET expires_at = now() + interval '90 days' WHERE expires_at IS NULL;
ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL;
-- New tokens always name their scope: no silent default from here on.
ALTER TABLE api_tokens ALTER COLUMN scope DROP DEFAULT;

-- The token list pages newest first by id (time-ordered UUIDs) over a user's unrevoked tokens;
-- revoking all of a user's tokens reads the same rows.
DROP INDEX api_tokens_user_idx;
CREATE INDEX api_tokens_user_live_idx ON api_tokens (user_id, id DESC) WHERE revoked_at IS NULL;
