-- Failure entries carry the attempt they belong to and the item they concern, and keep their
-- message up to 4,000 characters (src/shared/failures.ts, FAILURE_LIMITS). The database's bound
-- (0010) kept {code, message} and 500 characters: every writer's entries are now bounded to the
-- same shape as the application's, so what the application stores passes through unchanged.
CREATE OR REPLACE FUNCTION opsledger_bound_failures(f jsonb) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  n integer;
  e jsonb;
  code text;
  message text;
  item text;
  attempt numeric;
  entry jsonb;
  out jsonb := '[]'::jsonb;
  i integer := 0;
BEGIN
  IF f IS NULL OR jsonb_typeof(f) <> 'array' THEN
    RETURN '[]'::jsonb;
  END IF;
  n := jsonb_array_length(f);
  FOR e IN SELECT value FROM jsonb_array_elements(f) LOOP
    i := i + 1;
    IF n > 20 AND i = 20 THEN
      out := out || jsonb_build_array(jsonb_build_object('code', 'truncated',
                                                         'message', (n - 19) || ' more failures not shown'));
      EXIT;
    END IF;
    IF jsonb_typeof(e) <> 'object' THEN
      e := jsonb_build_object('message', e);
    END IF;
    code := CASE WHEN jsonb_typeof(e -> 'code') = 'string' THEN e ->> 'code' END;
    code := left(regexp_replace(lower(opsledger_redact(code)), '[^a-z0-9_.-]+', '_', 'g'), 64);
    message := CASE jsonb_typeof(e -> 'message') WHEN 'string' THEN e ->> 'message'
                                                 WHEN 'null' THEN 'Unknown error'
                                                 ELSE coalesce((e -> 'message')::text, 'Unknown error') END;
    -- Redact, collapse whitespace, redact again (joined pieces may only now read as a secret); when
    -- there is nothing to collapse the second pass would change nothing.
    message := opsledger_redact(message);
    IF message ~ '\s\s|[\t\n\r\f\v\u00a0\u2028\u2029]|^\s|\s$' THEN
      message := opsledger_redact(btrim(regexp_replace(message, '[\s\u00a0\u2028\u2029]+', ' ', 'g')));
    END IF;
    IF length(message) > 4000 THEN
      message := left(message, 4000) || '…';
    END IF;
    entry := jsonb_build_object('code', coalesce(nullif(code, ''), 'error'), 'message', message);
    IF jsonb_typeof(e -> 'attempt') = 'number' THEN
      attempt := (e ->> 'attempt')::numeric;
      IF attempt = trunc(attempt) AND attempt >= 0 AND attempt <= 9007199254740991 THEN
        entry := entry || jsonb_build_object('attempt', attempt);
      END IF;
    END IF;
    item := CASE jsonb_typeof(e -> 'item') WHEN 'string' THEN e ->> 'item'
                                           WHEN 'number' THEN (e -> 'item')::text END;
    IF item IS NOT NULL THEN
      item := left(btrim(regexp_replace(opsledger_redact(item), '[\s\u00a0\u2028\u2029]+', ' ', 'g')), 200);
      IF item <> '' THEN
        entry := entry || jsonb_build_object('item', item);
      END IF;
    END IF;
    out := out || jsonb_build_array(entry);
  END LOOP;
  RETURN out;
END
$$;
