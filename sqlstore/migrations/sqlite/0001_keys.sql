-- apiauth sqlstore, SQLite, version 1: API keys.
-- Only the SHA-256 digest of a key is stored, never the key.
-- Times are INTEGER Unix microseconds (UTC); NULL where a time is unset.
CREATE TABLE IF NOT EXISTS apiauth_keys (
    id           TEXT NOT NULL PRIMARY KEY,
    digest       BLOB NOT NULL CHECK (length(digest) = 32),
    name         TEXT NOT NULL DEFAULT '',
    subject      TEXT NOT NULL DEFAULT '',
    tenant       TEXT NOT NULL DEFAULT '',
    scopes       TEXT NOT NULL DEFAULT '',  -- space-separated, in order
    tier         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,                   -- NULL: never
    revoked_at   INTEGER,                   -- NULL: not revoked
    replaced_by  TEXT NOT NULL DEFAULT '',  -- rotation: the key that replaced this one
    last_used_at INTEGER,                   -- to a minute; NULL: never seen
    updated_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
);
CREATE UNIQUE INDEX IF NOT EXISTS apiauth_keys_digest ON apiauth_keys (digest);
CREATE INDEX IF NOT EXISTS apiauth_keys_tenant ON apiauth_keys (tenant, created_at, id);
CREATE INDEX IF NOT EXISTS apiauth_keys_updated ON apiauth_keys (updated_at);

-- updated_at moves forward on every change but last_used_at, whoever makes
-- it, so that caches in other processes can catch up by polling.
CREATE TRIGGER IF NOT EXISTS apiauth_keys_touch
AFTER UPDATE OF id, digest, name, subject, tenant, scopes, tier, created_at, expires_at, revoked_at, replaced_by
ON apiauth_keys
BEGIN
    UPDATE apiauth_keys
    SET updated_at = MAX(CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), OLD.updated_at + 1)
    WHERE id = NEW.id;
END;
