-- The run-event notice sealed like the change feed's (0009). Any login may LISTEN, and a run id in
-- clear would tell an outsider which runs exist and when they log; sealed with the database's feed
-- key, a notice is a random nonce, ciphertext and a tag to everyone but the servers. SECURITY
-- DEFINER: only the owner may seal, whoever writes the events (the application role included).
CREATE OR REPLACE FUNCTION operation_run_events_notify() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT DISTINCT run_id FROM new_rows LOOP
    PERFORM pg_notify('opsledger_run_events', opsledger_feed_seal(r.run_id::text));
  END LOOP;
  RETURN NULL;
END
$$;
