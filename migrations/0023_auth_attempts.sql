-- Password attempts counted in the database, so every server process of an installation shares one
-- count: a guesser spread over several processes (or behind a load balancer) meets the same limit
-- as one talking to a single process.
--
-- key: the SHA-256 (hex) of what is counted ("sign-in" with the email and the client address, or
-- "password" with the user id): never an email or an address in clear. A row lives for one
-- window; a success deletes it, and expired rows go whenever anyone succeeds.
CREATE TABLE auth_attempts (
  key text PRIMARY KEY CHECK (key ~ '^[0-9a-f]{64}$'),
  attempts integer NOT NULL CHECK (attempts > 0),
  window_ends_at timestamptz NOT NULL
);
CREATE INDEX auth_attempts_window_idx ON auth_attempts (window_ends_at);
