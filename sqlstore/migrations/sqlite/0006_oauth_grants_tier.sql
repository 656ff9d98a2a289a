-- apiauth sqlstore, SQLite, version 6: the rate-limit tier of the tokens
-- of the authorization-code flow (oauth.User.Tier of the user who
-- approved), kept by a code and by the grant its redemption starts. Codes
-- and grants of version 5 read as of the default tier ('').
-- SQLite has no ADD COLUMN IF NOT EXISTS: run this file once (Migrate
-- records it in apiauth_schema_migrations).
ALTER TABLE apiauth_oauth_codes ADD COLUMN tier TEXT NOT NULL DEFAULT '';
ALTER TABLE apiauth_oauth_grants ADD COLUMN tier TEXT NOT NULL DEFAULT '';

-- The store never changes a grant's tier, but a change by hand moves
-- updated_at (and so is found by a poll) as any other does: version 5's
-- trigger, with the tier among its columns.
DROP TRIGGER IF EXISTS apiauth_oauth_grants_touch;
CREATE TRIGGER apiauth_oauth_grants_touch
AFTER UPDATE OF grant_id, client_id, subject, tenant, tier, scopes, created_at, expires_at, idle_expires_at, revoked_at, refresh_digest
ON apiauth_oauth_grants
BEGIN
    UPDATE apiauth_oauth_grants
    SET updated_at = MAX(CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), OLD.updated_at + 1)
    WHERE grant_id = NEW.grant_id;
END;
