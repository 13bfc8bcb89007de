-- The change feed carries nothing another login can read.
--
-- LISTEN needs no privilege: any login of the cluster may listen on 'opsledger_runs'. Until now
-- each notice carried the run (tenant id, inputs, initiator, failure summary), so a role with no
-- grant at all received every tenant's runs. From here on every notice is sealed: encrypted and
-- authenticated with a key of this database that only the owning role can read (the servers read
-- it once, at start). A listener without the key sees a random nonce, ciphertext whose length is
-- all it tells, and a tag; it learns no tenant, run id, input, initiator or failure. A notice
-- forged or altered by anyone (pg_notify needs no privilege either) fails its tag and is dropped.
--
-- The cipher, in plain SQL so it runs alike on PostgreSQL 15 and on the embedded database (which
-- has no pgcrypto): keystream block j = sha256(enc_key || nonce || j), 32 bytes each, XORed with
-- the text (as bit strings of equal length); tag = the first 16 bytes of
-- sha256(mac_key || length || nonce || ciphertext), whose length prefix defeats extension of the
-- message. The nonce is a fresh random UUID per notice. src/ledger/feed-seal.ts opens it.
-- Format: hex(nonce) '.' base64(ciphertext) '.' hex(tag).

CREATE TABLE change_feed_key (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  -- 32 bytes of encryption key, then 32 bytes of authentication key.
  key bytea NOT NULL CHECK (octet_length(key) = 64)
);
INSERT INTO change_feed_key (key)
  SELECT uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
      || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
REVOKE ALL ON change_feed_key FROM PUBLIC;

CREATE FUNCTION opsledger_feed_seal(plain text) RETURNS text
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
  k bytea := (SELECT key FROM change_feed_key);
  nonce bytea := uuid_send(gen_random_uuid());
  p bytea := convert_to(plain, 'UTF8');
  n integer := octet_length(p);
  ks bytea;
  ct bytea;
BEGIN
  SELECT string_agg(sha256(substring(k FROM 1 FOR 32) || nonce || int4send(j)), ''::bytea ORDER BY j)
    INTO ks FROM generate_series(0, greatest(n - 1, 0) / 32) j;
  ct := substring(varbit_send(('x' || encode(p, 'hex'))::varbit
                              # ('x' || encode(substring(ks FROM 1 FOR n), 'hex'))::varbit) FROM 5);
  RETURN encode(nonce, 'hex') || '.' || replace(encode(ct, 'base64'), E'\n', '') || '.'
    || encode(substring(sha256(substring(k FROM 33 FOR 32) || int4send(n) || nonce || ct) FROM 1 FOR 16), 'hex');
END
$$;
-- Only the owner seals: with the right to seal, a role could forge notices the servers accept.
REVOKE EXECUTE ON FUNCTION opsledger_feed_seal(text) FROM PUBLIC;

-- What a notice says, before it is sealed: the run as it now is, or (too large for a notice once
-- sealed) its id and the digest of what a reader sees, which the servers read back.
CREATE OR REPLACE FUNCTION operation_runs_announce(r operation_runs) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  payload text := json_build_object('tenantId', r.tenant_id, 'runId', r.id, 'run', to_jsonb(r))::text;
BEGIN
  -- A notice holds 8000 bytes; sealed, the text grows by a third (base64) and 70 bytes.
  IF octet_length(payload) > 5800 THEN
    payload := json_build_object('tenantId', r.tenant_id, 'runId', r.id, 'digest', operation_runs_digest(r))::text;
  END IF;
  PERFORM pg_notify('opsledger_runs', opsledger_feed_seal(payload));
END
$$;
REVOKE EXECUTE ON FUNCTION operation_runs_announce(operation_runs) FROM PUBLIC;

-- As in 0007, every notice sealed. SECURITY DEFINER: the trigger seals with the owner's right
-- whoever writes the runs (the application role, or the owner inside the restore mirror); a
-- trigger function cannot be called directly, so this lends the right to nothing else.
CREATE OR REPLACE FUNCTION operation_runs_notify() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  changed integer;
  r operation_runs;
  t record;
BEGIN
  IF TG_OP = 'DELETE' THEN
    FOR t IN SELECT DISTINCT tenant_id FROM old_rows LOOP
      PERFORM pg_notify('opsledger_runs',
        opsledger_feed_seal(json_build_object('tenantId', t.tenant_id, 'reload', true)::text));
    END LOOP;
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    SELECT count(*) INTO changed FROM (
      SELECT 1 FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
      WHERE to_jsonb(n) - '{last_heartbeat_at,updated_at}'::text[]
            IS DISTINCT FROM to_jsonb(o) - '{last_heartbeat_at,updated_at}'::text[]
      LIMIT 101) s;
    IF changed BETWEEN 1 AND 100 THEN
      FOR r IN
        SELECT n.* FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
        WHERE to_jsonb(n) - '{last_heartbeat_at,updated_at}'::text[]
              IS DISTINCT FROM to_jsonb(o) - '{last_heartbeat_at,updated_at}'::text[]
      LOOP
        PERFORM operation_runs_announce(r);
      END LOOP;
      RETURN NULL;
    END IF;
  ELSE
    SELECT count(*) INTO changed FROM (SELECT 1 FROM new_rows LIMIT 101) s;
    IF changed <= 100 THEN
      FOR r IN SELECT * FROM new_rows LOOP
        PERFORM operation_runs_announce(r);
      END LOOP;
      RETURN NULL;
    END IF;
  END IF;
  IF changed > 100 THEN
    FOR t IN SELECT DISTINCT tenant_id FROM new_rows LOOP
      PERFORM pg_notify('opsledger_runs',
        opsledger_feed_seal(json_build_object('tenantId', t.tenant_id, 'reload', true)::text));
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;
