-- apiauth sqlstore, SQLite, version 5: grants are cached as keys are
-- (GetGrant is on the path of every request with an access token of the
-- authorization-code flow), so a change to a grant is found the same way:
-- by its updated_at, which a poll reads. Times are INTEGER Unix
-- microseconds (UTC).
--
-- SQLite's ADD COLUMN takes no default but a constant: grants of version 4
-- read as last changed at 0 (the epoch), and the store sets updated_at of
-- the grants it inserts. SQLite has no ADD COLUMN IF NOT EXISTS: run this
-- file once (Migrate records it in apiauth_schema_migrations).
ALTER TABLE apiauth_oauth_grants ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS apiauth_oauth_grants_updated ON apiauth_oauth_grants (updated_at);

-- updated_at moves forward on every change, whoever makes it, so that
-- caches in other processes can catch up by polling.
CREATE TRIGGER IF NOT EXISTS apiauth_oauth_grants_touch
AFTER UPDATE OF grant_id, client_id, subject, tenant, scopes, created_at, expires_at, idle_expires_at, revoked_at, refresh_digest
ON apiauth_oauth_grants
BEGIN
    UPDATE apiauth_oauth_grants
    SET updated_at = MAX(CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), OLD.updated_at + 1)
    WHERE grant_id = NEW.grant_id;
END;
