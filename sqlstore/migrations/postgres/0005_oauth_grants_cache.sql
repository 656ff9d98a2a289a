-- apiauth sqlstore, PostgreSQL, version 5: grants are cached as keys are
-- (GetGrant is on the path of every request with an access token of the
-- authorization-code flow), so a change to a grant is found the same ways:
-- by its updated_at, which a poll reads, and by a notification.
--
-- Grants of version 4 read as last changed at the epoch: a constant
-- default, so that adding the column does not rewrite the table; new
-- grants take the time of their insertion.
ALTER TABLE apiauth_oauth_grants
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT 'epoch';
ALTER TABLE apiauth_oauth_grants ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
CREATE INDEX IF NOT EXISTS apiauth_oauth_grants_updated ON apiauth_oauth_grants (updated_at);

-- updated_at moves forward on every change, whoever makes it (the store or
-- SQL run by hand), so that caches can catch up by polling.
CREATE OR REPLACE FUNCTION apiauth_oauth_grants_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF ROW(NEW.grant_id, NEW.client_id, NEW.subject, NEW.tenant, NEW.scopes, NEW.created_at,
           NEW.expires_at, NEW.idle_expires_at, NEW.revoked_at, NEW.refresh_digest)
       IS DISTINCT FROM
       ROW(OLD.grant_id, OLD.client_id, OLD.subject, OLD.tenant, OLD.scopes, OLD.created_at,
           OLD.expires_at, OLD.idle_expires_at, OLD.revoked_at, OLD.refresh_digest) THEN
        NEW.updated_at := GREATEST(clock_timestamp(), OLD.updated_at + interval '1 microsecond');
    ELSE
        NEW.updated_at := OLD.updated_at;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS apiauth_oauth_grants_touch ON apiauth_oauth_grants;
CREATE TRIGGER apiauth_oauth_grants_touch BEFORE UPDATE ON apiauth_oauth_grants
    FOR EACH ROW EXECUTE FUNCTION apiauth_oauth_grants_touch();

-- Every change and deletion of a grant is announced on the keys' channel,
-- apiauth_keys, when it commits, with the payload 'grant:' and the grant's
-- ID (a key's payload is its digest in hex, so the two never mix up); or,
-- for an ID too long for a payload (8000 bytes), 'grants': drop them all.
-- A new grant is not announced: caches do not keep "not found" of grants.
CREATE OR REPLACE FUNCTION apiauth_oauth_grants_notify_id(id TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF octet_length(id) <= 7000 THEN
        PERFORM pg_notify('apiauth_keys', 'grant:' || id);
    ELSE
        PERFORM pg_notify('apiauth_keys', 'grants');
    END IF;
END $$;
CREATE OR REPLACE FUNCTION apiauth_oauth_grants_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM apiauth_oauth_grants_notify_id(OLD.grant_id);
    IF TG_OP = 'UPDATE' AND OLD.grant_id <> NEW.grant_id THEN
        PERFORM apiauth_oauth_grants_notify_id(NEW.grant_id);
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS apiauth_oauth_grants_notify ON apiauth_oauth_grants;
CREATE TRIGGER apiauth_oauth_grants_notify AFTER DELETE ON apiauth_oauth_grants
    FOR EACH ROW EXECUTE FUNCTION apiauth_oauth_grants_notify();
DROP TRIGGER IF EXISTS apiauth_oauth_grants_notify_update ON apiauth_oauth_grants;
CREATE TRIGGER apiauth_oauth_grants_notify_update AFTER UPDATE ON apiauth_oauth_grants
    FOR EACH ROW WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at)
    EXECUTE FUNCTION apiauth_oauth_grants_notify();
