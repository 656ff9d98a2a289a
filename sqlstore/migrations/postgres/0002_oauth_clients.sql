-- apiauth sqlstore, PostgreSQL, version 2: OAuth clients (client_credentials).
-- Only the SHA-256 digest of a client secret is stored, never the secret.
-- Clients are read by client_id, once per token request, without a cache:
-- no trigger or notification is needed for a change to be seen at once.
CREATE TABLE IF NOT EXISTS apiauth_oauth_clients (
    client_id     TEXT PRIMARY KEY,
    secret_digest BYTEA NOT NULL CHECK (octet_length(secret_digest) = 32),
    subject       TEXT NOT NULL DEFAULT '',  -- '': the client ID
    tenant        TEXT NOT NULL DEFAULT '',
    scopes        TEXT NOT NULL DEFAULT '',  -- space-separated, in order
    tier          TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    disabled_at   TIMESTAMPTZ                -- NULL: enabled
);
