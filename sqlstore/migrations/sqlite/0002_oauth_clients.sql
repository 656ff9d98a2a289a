-- apiauth sqlstore, SQLite, version 2: OAuth clients (client_credentials).
-- Only the SHA-256 digest of a client secret is stored, never the secret.
-- Times are INTEGER Unix microseconds (UTC); NULL where a time is unset.
CREATE TABLE IF NOT EXISTS apiauth_oauth_clients (
    client_id     TEXT NOT NULL PRIMARY KEY,
    secret_digest BLOB NOT NULL CHECK (length(secret_digest) = 32),
    subject       TEXT NOT NULL DEFAULT '',  -- '': the client ID
    tenant        TEXT NOT NULL DEFAULT '',
    scopes        TEXT NOT NULL DEFAULT '',  -- space-separated, in order
    tier          TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER                    -- NULL: enabled
);
