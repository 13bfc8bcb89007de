-- Invitations with an end and an owner: each has an id (owners list and revoke them by it), the
-- owner who sent it, and an expiry.
ALTER TABLE invitations
  ADD COLUMN id uuid,
  ADD COLUMN invited_by uuid,
  ADD COLUMN expires_at timestamptz;

-- Invitations sent before this upgrade have no known sender: they expire 7 days after they were
-- sent (most already have), like any other.
UPDATE invitations SET id = gen_random_uuid(), expires_at = created_at + interval '7 days';
ALTER TABLE invitations ALTER COLUMN id SET NOT NULL;
ALTER TABLE invitations ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE invitations ADD CONSTRAINT invitations_id_key UNIQUE (tenant_id, id);

-- An invitation carries its sender's authority: when the sender's membership ends (removed from
-- the tenant, or the account deleted), the invitations they sent end with it. The key names the
-- tenant, so the schema stays distributable by tenant_id.
ALTER TABLE invitations ADD CONSTRAINT invitations_sender_fkey
  FOREIGN KEY (tenant_id, invited_by) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE;
CREATE INDEX invitations_sender_idx ON invitations (tenant_id, invited_by);
