-- Secrets are redacted before a failure is stored, whoever writes it.
--
-- Until now failure summaries were redacted by the application (src/shared/redact.ts) and again
-- wherever a run left the ledger, but a writer that is not the application stored them as given:
-- the restore mirror runs inside the database (migration 0004) and copies the error text another
-- application wrote into restore_runs, so a Bearer JWT, a client_secret= or a connection-string
-- password reached operation_runs.failure_summary (and the change feed) in clear. From here on a
-- trigger on operation_runs redacts and bounds every failure summary as it is written, by the
-- same rules as the application: opsledger_redact() below is src/shared/redact.ts in SQL, rule
-- for rule and key word for key word, and test/redact-sql.test.ts holds the two to the same output
-- on the whole secret corpus, the ordinary messages and the key vocabulary. Change one, change
-- both. Existing rows are redacted at the end.
--
-- The regular expressions are written for PostgreSQL's engine (15 and the embedded 18 alike):
-- \m for a word start, no \S or \W inside brackets, lookarounds without nested lookarounds.

-- ---- which keys carry secrets (src/shared/redact-keys.ts) ---------------------------------------

CREATE FUNCTION opsledger_redact_key_kind(key text, assignment boolean) RETURNS text
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  words text[] := array_remove(regexp_split_to_array(lower(
    regexp_replace(regexp_replace(key, '([a-z0-9])([A-Z])', '\1 \2', 'g'), '([A-Z])([A-Z][a-z])', '\1 \2', 'g')),
    '[^a-z0-9]+'), '');
  compact text;
BEGIN
  IF coalesce(array_length(words, 1), 0) = 0 THEN
    RETURN NULL;
  END IF;
  IF words[array_length(words, 1)] = ANY (ARRAY['type', 'types', 'count', 'endpoint', 'endpoints', 'url',
      'urls', 'uri', 'length', 'limit', 'name', 'names', 'id', 'ids', 'kind', 'usage', 'format', 'version',
      'algorithm', 'alg', 'scheme', 'hint', 'method', 'mode', 'policy', 'path', 'file', 'location', 'provider',
      'source', 'status', 'enabled', 'present', 'valid', 'used', 'ref']) THEN
    RETURN NULL;
  END IF;
  IF words && ARRAY['expires', 'expiry', 'expiration', 'lifetime', 'ttl'] THEN
    RETURN NULL;
  END IF;
  IF NOT assignment AND words && ARRAY['invalid', 'expired', 'missing', 'error', 'errors', 'failed', 'failure',
      'bad', 'malformed', 'unauthorized', 'denied', 'not', 'no', 'empty', 'required', 'forbidden', 'mismatch',
      'unsupported', 'revoked'] THEN
    RETURN NULL;
  END IF;
  compact := array_to_string(words, '');
  IF compact = ANY (ARRAY['skiptoken', 'deltatoken', 'continuationtoken', 'pagetoken', 'nextpagetoken',
      'synctoken']) THEN
    RETURN NULL;
  END IF;
  IF strpos(compact, 'authorization') > 0 THEN
    RETURN 'auth';
  END IF;
  IF strpos(compact, 'cookie') > 0 OR strpos(compact, 'passphrase') > 0 THEN
    RETURN 'line';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(ARRAY['password', 'passwd', 'passphrase', 'pgpass', 'secret', 'apikey',
      'authorization', 'cookie', 'privatekey', 'connectionstring', 'connstring', 'connstr', 'accountkey',
      'accesskey', 'sharedkey', 'credential', 'signingkey', 'encryptionkey', 'masterkey', 'subscriptionkey',
      'sessionkey', 'functionkey', 'clientassertion', 'signature']) p WHERE strpos(compact, p) > 0) THEN
    RETURN 'value';
  END IF;
  IF words && ARRAY['token', 'tokens', 'pwd', 'pass', 'sig', 'auth', 'jwt', 'bearer', 'sas', 'otp'] THEN
    RETURN 'value';
  END IF;
  IF compact LIKE '%token' OR compact LIKE '%pwd' THEN
    RETURN 'value';
  END IF;
  RETURN NULL;
END
$$;

-- An auth scheme at the start of t followed by blanks: the scheme (lower case) and the length of
-- scheme and blanks; null when t does not start with a known scheme.
CREATE FUNCTION opsledger_redact_scheme(t text, OUT scheme text, OUT len integer)
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  m text[] := regexp_match(t, '^([A-Za-z][A-Za-z0-9-]*)([ \t]+)');
BEGIN
  IF m IS NOT NULL AND lower(m[1]) = ANY (ARRAY['bearer', 'basic', 'token', 'sharedkey', 'sharedkeylite',
      'sharedaccesssignature', 'negotiate', 'ntlm', 'apikey', 'api-key', 'key', 'dpop', 'pop', 'sso-key',
      'bot', 'jwt', 'pat', 'digest', 'aws4-hmac-sha256', 'goog4-hmac-sha256', 'aws', 'oauth', 'hawk', 'hmac',
      'hmac-sha256', 'signature', 'mac']) THEN
    scheme := lower(m[1]);
    len := length(m[1]) + length(m[2]);
  END IF;
END
$$;

-- key=value, key: value, "key": "value", headers (redactKeyValues): the value of a secret key.
CREATE FUNCTION opsledger_redact_key_values(t text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  kv constant text := '(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]+)(\\?["''])?[ \t]*([:=])[ \t]*(\\?["''])?';
  ws constant text := ' \t\n\v\f\r\u00a0\u2028\u2029';
  out text := '';
  last integer := 1;
  pos integer := 1;
  s integer;
  e integer;
  m text[];
  kind text;
  rest text;
  vlen integer;
  sch record;
  repl text;
BEGIN
  LOOP
    s := regexp_instr(t, kv, pos);
    EXIT WHEN s = 0;
    e := regexp_instr(t, kv, pos, 1, 1);
    m := regexp_match(substr(t, s, e - s), '^' || kv);
    pos := e;
    kind := opsledger_redact_key_kind(m[1], m[3] = '=');
    CONTINUE WHEN kind IS NULL;
    rest := substr(t, e);
    repl := NULL;
    IF m[4] IS NOT NULL THEN
      IF length(m[4]) = 2 THEN
        -- A JSON-escaped quote: the value ends at the next escaped quote of the same kind.
        vlen := length(substring(rest FROM '^(?:[^\n\r\\]|\\(?!' || right(m[4], 1) || '))*'));
      ELSE
        vlen := length(substring(rest FROM '^(?:[^\n\r\\' || m[4] || ']|\\[^\n\r]|\\)*'));
      END IF;
      IF vlen > 0 THEN
        sch := opsledger_redact_scheme(substr(rest, 1, vlen));
        repl := CASE WHEN sch.scheme IS NOT NULL AND sch.len < vlen
                     THEN substr(rest, 1, sch.len) || '[REDACTED]' ELSE '[REDACTED]' END;
      END IF;
    ELSE
      sch := opsledger_redact_scheme(rest);
      IF sch.scheme IS NOT NULL THEN
        IF sch.scheme = ANY (ARRAY['digest', 'aws4-hmac-sha256', 'goog4-hmac-sha256', 'aws', 'oauth', 'hawk',
            'hmac', 'hmac-sha256', 'signature', 'mac']) THEN
          vlen := length(substring(substr(rest, sch.len + 1) FROM '^[^\n\r]*'));
        ELSE
          vlen := length(substring(substr(rest, sch.len + 1) FROM '^[^' || ws || '"''\\,;]*'));
        END IF;
        IF vlen > 0 THEN
          repl := substr(rest, 1, sch.len) || '[REDACTED]';
          vlen := vlen + sch.len;
        END IF;
      ELSE
        IF kind = 'value' THEN
          vlen := length(substring(rest FROM '^[^' || ws || '&;,"''<>\\)}]*'));
        ELSE
          vlen := length(substring(rest FROM '^[^\n\r]*'));
        END IF;
        IF vlen > 0 THEN
          repl := '[REDACTED]';
        END IF;
      END IF;
    END IF;
    CONTINUE WHEN repl IS NULL;
    out := out || substr(t, last, e - last) || repl;
    last := e + vlen;
    pos := last;
  END LOOP;
  IF last = 1 THEN
    RETURN t;
  END IF;
  RETURN out || substr(t, last);
END
$$;

-- A high-entropy value after a word like key/secret/token (ENTROPY_RE and looksHighEntropy).
CREATE FUNCTION opsledger_redact_entropy(t text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  re constant text := '(?<![A-Za-z0-9])((?:keys?|secrets?|tokens?|signatures?|sig|passwords?|passphrases?|credentials?|hmac)(?![A-Za-z0-9])(?:[ \t]+(?:is|was|of|=|:)[ \t]+|[ \t]*[=:][ \t]*|[ \t]+)(?:\\?["''(<[])?)([A-Za-z0-9+/_-]{16,}={0,2})';
  out text := '';
  last integer := 1;
  pos integer := 1;
  s integer;
  e integer;
  m text[];
  core text;
  high boolean;
BEGIN
  LOOP
    s := regexp_instr(t, re, pos, 1, 0, 'i');
    EXIT WHEN s = 0;
    e := regexp_instr(t, re, pos, 1, 1, 'i');
    m := regexp_match(substr(t, s, e - s), '^' || re, 'i');
    pos := e;
    core := rtrim(m[2], '=');
    IF length(core) < 16 OR core ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
      high := false;
    ELSIF core ~* '^[0-9a-f]+$' THEN
      high := core ~ '[0-9]' AND core ~ '[A-Za-z]';
    ELSE
      high := length(core) >= 20 AND core ~ '[0-9]' AND core ~ '[a-z]' AND core ~ '[A-Z]';
    END IF;
    CONTINUE WHEN NOT high;
    out := out || substr(t, last, s - last) || m[1] || '[REDACTED]';
    last := e;
  END LOOP;
  IF last = 1 THEN
    RETURN t;
  END IF;
  RETURN out || substr(t, last);
END
$$;

-- <Password>…</Password> style elements (XML_RE): the element's text, when its name is a secret key.
CREATE FUNCTION opsledger_redact_xml(t text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  re constant text := '<([A-Za-z_][A-Za-z0-9_:.-]*)(\s[^<>]*)?>([^<]+)</\1\s*>';
  out text := '';
  last integer := 1;
  pos integer := 1;
  s integer;
  e integer;
  m text[];
BEGIN
  LOOP
    s := regexp_instr(t, re, pos);
    EXIT WHEN s = 0;
    e := regexp_instr(t, re, pos, 1, 1);
    m := regexp_match(substr(t, s, e - s), '^' || re);
    pos := e;
    CONTINUE WHEN opsledger_redact_key_kind(regexp_replace(m[1], '^.*:', ''), false) IS NULL;
    out := out || substr(t, last, s - last) || '<' || m[1] || coalesce(m[2], '') || '>[REDACTED]</' || m[1] || '>';
    last := e;
  END LOOP;
  IF last = 1 THEN
    RETURN t;
  END IF;
  RETURN out || substr(t, last);
END
$$;

-- One pass of every rule, in the order of redactOnce(). PostgreSQL keeps only 32 compiled regular
-- expressions per connection and these are costly to compile, so each rule first checks, without
-- a regular expression, that its marker is in the text at all: most messages then touch only the
-- few rules that can apply, and those stay compiled.
CREATE FUNCTION opsledger_redact_once(t text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  not_a_password constant text := 'incorrect|invalid|wrong|expired|required|missing|empty|blank|too|not|set|correct|weak|reset|changed|locked|null|undefined|a|an|the';
  prose constant text := '(?:[ \t]+for[ \t]+[^ \t\n\r\f\v]+)?(?:[ \t]+(?:is|was|=|:)[ \t]+|[ \t]*[=:][ \t]*)';
  lt text := lower(t);
BEGIN
  -- PEM private keys: complete, then truncated (no END line: to the end).
  IF strpos(lt, '-----begin') > 0 THEN
    t := regexp_replace(t, '(-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)[^-]*(-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)',
                        '\1[REDACTED]\2', 'gi');
    t := regexp_replace(t, '(-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)(?!\[REDACTED\]-----END).*$',
                        '\1[REDACTED]', 'i');
  END IF;
  -- scheme://user:password@host, also JSON-escaped.
  IF strpos(t, '@') > 0 AND strpos(t, '/') > 0 THEN
    t := regexp_replace(t, '\m([a-z][a-z0-9+.-]{0,30}:\\?/\\?/)([^\s:/?#@\\]*):([^\s/?#]+)@', '\1\2:[REDACTED]@', 'gi');
  END IF;
  -- Bare Bearer tokens, JWTs.
  IF strpos(lt, 'bearer') > 0 THEN
    t := regexp_replace(t, '\m(bearer\s+)(?=[A-Za-z._~+/-]*[0-9]|[A-Za-z0-9._~+/-]{16})[A-Za-z0-9._~+/-]{8,}=*',
                        '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(t, 'eyJ') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+){0,2}',
                        '[REDACTED]', 'g');
  END IF;
  -- Provider token formats (PROVIDER_RES), prefix kept.
  IF strpos(lt, 'akia') + strpos(lt, 'asia') + strpos(lt, 'agpa') + strpos(lt, 'aida') + strpos(lt, 'aroa')
     + strpos(lt, 'aipa') + strpos(lt, 'anpa') + strpos(lt, 'anva') + strpos(lt, 'abia') + strpos(lt, 'acca') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9])(AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'gh') > 0 AND strpos(lt, '_') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_])(gh[pousr]_)[A-Za-z0-9]{20,}', '\1[REDACTED]', 'gi');
    t := regexp_replace(t, '(?<![A-Za-z0-9_])(github_pat_)[A-Za-z0-9_]{20,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'glpat-') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_-])(glpat-)[A-Za-z0-9_-]{20,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'npm_') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_])(npm_)[A-Za-z0-9]{30,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'xox') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9-])(xox[abeoprs]-)[A-Za-z0-9-]{10,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'xapp-') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9-])(xapp-)[A-Za-z0-9-]{10,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'hooks.slack.com/services/') > 0 THEN
    t := regexp_replace(t, '(hooks\.slack\.com/services/)[A-Za-z0-9/]+', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'aiza') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_-])(AIza)[A-Za-z0-9_-]{30,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'k_live_') + strpos(lt, 'k_test_') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_])((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]{10,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'whsec_') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_])(whsec_)[A-Za-z0-9]{20,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'sk-') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_-])(sk-(?:proj-)?)[A-Za-z0-9_-]{20,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'olt_') + strpos(lt, 'ols_') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_])(ol[st]_)[0-9a-f]{32}_[A-Za-z0-9_-]{8,}', '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'sim~') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_~.-])(sim~)[A-Za-z0-9_-]{16,}', '\1[REDACTED]', 'gi');
  END IF;
  -- Microsoft Entra client secrets.
  IF strpos(t, 'Q~') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])',
                        '[REDACTED]', 'g');
  END IF;
  IF strpos(t, '=') + strpos(t, ':') > 0 THEN
    t := opsledger_redact_key_values(t);
  END IF;
  -- Passwords and passphrases in prose: quoted whole, passphrases to the end of the line, else one word.
  lt := lower(t);
  IF strpos(lt, 'pass') + strpos(lt, 'pwd') > 0 THEN
    t := regexp_replace(t, '(?<![A-Za-z0-9])((?:passwords?|passphrases?|passwd|pwd)' || prose
                           || '["''`])(?!\[REDACTED)[^"''`\r\n]+(?=["''`])', '\1[REDACTED]', 'gi');
    IF strpos(lt, 'passphrase') > 0 THEN
      t := regexp_replace(t, '(?<![A-Za-z0-9])(passphrases?(?:[ \t]+for[ \t]+[^ \t\n\r\f\v]+)?(?:[ \t]+(?:is|was)[ \t]+))(?!(?:'
                             || not_a_password || ')(?:[^A-Za-z0-9]|$))(?!\[REDACTED)[^\s"''`<>][^\r\n"''`<>]*',
                          '\1[REDACTED]', 'gi');
    END IF;
    t := regexp_replace(t, '(?<![A-Za-z0-9])((?:passwords?|passphrases?|passwd|pwd)' || prose || '(?:\\?["''`])?)(?!(?:'
                           || not_a_password || ')(?:[^A-Za-z0-9]|$))(?!\[REDACTED)([^]\s"''`<>,;)}]+)',
                        '\1[REDACTED]', 'gi');
  END IF;
  IF strpos(lt, 'key') + strpos(lt, 'secret') + strpos(lt, 'token') + strpos(lt, 'sig') + strpos(lt, 'pass')
     + strpos(lt, 'credential') + strpos(lt, 'hmac') > 0 THEN
    t := opsledger_redact_entropy(t);
  END IF;
  IF strpos(t, '</') > 0 THEN
    t := opsledger_redact_xml(t);
  END IF;
  RETURN t;
END
$$;

-- redact(): every rule until the text stops changing (at most six passes).
CREATE FUNCTION opsledger_redact(t text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  next text;
BEGIN
  IF t IS NULL THEN
    RETURN NULL;
  END IF;
  FOR pass IN 1..6 LOOP
    next := opsledger_redact_once(t);
    IF next = t THEN
      RETURN t;
    END IF;
    t := next;
  END LOOP;
  RETURN t;
END
$$;

-- boundFailures() of src/shared/failures.ts: at most 20 {code, message} entries, codes of
-- [a-z0-9_.-] up to 64, messages redacted, whitespace collapsed, up to 500 characters.
CREATE FUNCTION opsledger_bound_failures(f jsonb) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  n integer;
  e jsonb;
  code text;
  message text;
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
    IF length(message) > 500 THEN
      message := left(message, 500) || '…';
    END IF;
    out := out || jsonb_build_array(jsonb_build_object('code', coalesce(nullif(code, ''), 'error'),
                                                       'message', message));
  END LOOP;
  RETURN out;
END
$$;

-- Every failure summary written, by any writer (the application, the restore mirror inside the
-- database, plain SQL), is redacted and bounded before it is stored.
CREATE FUNCTION operation_runs_redact() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  NEW.failure_summary := opsledger_bound_failures(NEW.failure_summary);
  RETURN NEW;
END
$$;
CREATE TRIGGER operation_runs_redact_insert BEFORE INSERT ON operation_runs
  FOR EACH ROW WHEN (NEW.failure_summary IS DISTINCT FROM '[]'::jsonb) EXECUTE FUNCTION operation_runs_redact();
CREATE TRIGGER operation_runs_redact_update BEFORE UPDATE OF failure_summary ON operation_runs
  FOR EACH ROW WHEN (NEW.failure_summary IS DISTINCT FROM OLD.failure_summary) EXECUTE FUNCTION operation_runs_redact();

GRANT EXECUTE ON FUNCTION opsledger_redact(text), opsledger_bound_failures(jsonb) TO opsledger_app;

-- Existing rows: a completed run never changes (operation_runs_guard), except here, where what it
-- stored in clear is redacted. The notify trigger announces the changed runs as usual.
ALTER TABLE operation_runs DISABLE TRIGGER operation_runs_guard;
UPDATE operation_runs SET failure_summary = opsledger_bound_failures(failure_summary)
  WHERE failure_summary <> '[]'::jsonb
    AND opsledger_bound_failures(failure_summary) IS DISTINCT FROM failure_summary;
ALTER TABLE operation_runs ENABLE TRIGGER operation_runs_guard;
