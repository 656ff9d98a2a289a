-- apiauth sqlstore, SQLite, version 3: the OAuth authorization-code flow:
-- codes, grants with their refresh-token families, and consents.
-- Only SHA-256 digests of codes and refresh tokens are stored, never the
-- codes or tokens. Times are INTEGER Unix microseconds (UTC); NULL where
-- a time is unset. Rows are read and written by key, in transactions,
-- without a cache.

-- Authorization codes (RFC 6749 §4.1.2, RFC 7636). A code is spent by one
-- conditional UPDATE ... WHERE used_at IS NULL, and kept until it expires
-- so that a replay is recognized and its grant revoked.
CREATE TABLE IF NOT EXISTS apiauth_oauth_codes (
    digest           BLOB NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
    grant_id         TEXT NOT NULL UNIQUE,      -- the grant its redemption starts
    client_id        TEXT NOT NULL,
    redirect_uri     TEXT NOT NULL DEFAULT '',
    challenge        TEXT NOT NULL DEFAULT '',  -- PKCE S256 code_challenge
    subject          TEXT NOT NULL DEFAULT '',
    tenant           TEXT NOT NULL DEFAULT '',
    scopes           TEXT NOT NULL DEFAULT '',  -- space-separated, in order
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    grant_expires_at INTEGER NOT NULL,          -- absolute expiry of the grant
    used_at          INTEGER                    -- NULL: not redeemed
);
CREATE INDEX IF NOT EXISTS apiauth_oauth_codes_expires ON apiauth_oauth_codes (expires_at);

-- Grants: one per redeemed code, the family of its refresh tokens (RFC
-- 9700 §4.14.2). refresh_digest is the current token, the only one a
-- rotation accepts; idle_expires_at is never after expires_at, so it
-- alone says when a grant is dead by time.
CREATE TABLE IF NOT EXISTS apiauth_oauth_grants (
    grant_id        TEXT NOT NULL PRIMARY KEY,
    client_id       TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    tenant          TEXT NOT NULL DEFAULT '',
    scopes          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    revoked_at      INTEGER,                    -- NULL: not revoked
    refresh_digest  BLOB CHECK (refresh_digest IS NULL OR length(refresh_digest) = 32)  -- NULL: none
);
CREATE INDEX IF NOT EXISTS apiauth_oauth_grants_idle ON apiauth_oauth_grants (idle_expires_at);

-- Every refresh token of every grant, current or replaced, numbered in
-- the order issued: a replaced one presented again revokes its grant.
CREATE TABLE IF NOT EXISTS apiauth_oauth_refresh_tokens (
    digest    BLOB NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
    grant_id  TEXT NOT NULL,
    seq       INTEGER NOT NULL,                 -- 1 for the first, one more per rotation
    issued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS apiauth_oauth_refresh_tokens_grant ON apiauth_oauth_refresh_tokens (grant_id, seq);

-- Consents remembered, one per tenant, subject and client.
CREATE TABLE IF NOT EXISTS apiauth_oauth_consents (
    tenant    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes    TEXT NOT NULL DEFAULT '',
    saved_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, subject, client_id)
);
