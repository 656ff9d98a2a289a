-- apiauth sqlstore, PostgreSQL, version 1: API keys.
-- Only the SHA-256 digest of a key is stored, never the key.
CREATE TABLE IF NOT EXISTS apiauth_keys (
    id           TEXT PRIMARY KEY,
    digest       BYTEA NOT NULL CHECK (octet_length(digest) = 32),
    name         TEXT NOT NULL DEFAULT '',
    subject      TEXT NOT NULL DEFAULT '',
    tenant       TEXT NOT NULL DEFAULT '',
    scopes       TEXT NOT NULL DEFAULT '',  -- space-separated, in order
    tier         TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,               -- NULL: never
    revoked_at   TIMESTAMPTZ,               -- NULL: not revoked
    replaced_by  TEXT NOT NULL DEFAULT '',  -- rotation: the key that replaced this one
    last_used_at TIMESTAMPTZ,               -- to a minute; NULL: never seen
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX IF NOT EXISTS apiauth_keys_digest ON apiauth_keys (digest);
CREATE INDEX IF NOT EXISTS apiauth_keys_tenant ON apiauth_keys (tenant, created_at, id);
CREATE INDEX IF NOT EXISTS apiauth_keys_updated ON apiauth_keys (updated_at);

-- updated_at moves forward on every change but last_used_at, whoever makes
-- it (the store or SQL run by hand), so that caches can catch up by polling.
CREATE OR REPLACE FUNCTION apiauth_keys_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF ROW(NEW.id, NEW.digest, NEW.name, NEW.subject, NEW.tenant, NEW.scopes, NEW.tier,
           NEW.created_at, NEW.expires_at, NEW.revoked_at, NEW.replaced_by)
       IS DISTINCT FROM
       ROW(OLD.id, OLD.digest, OLD.name, OLD.subject, OLD.tenant, OLD.scopes, OLD.tier,
           OLD.created_at, OLD.expires_at, OLD.revoked_at, OLD.replaced_by) THEN
        NEW.updated_at := GREATEST(clock_timestamp(), OLD.updated_at + interval '1 microsecond');
    ELSE
        NEW.updated_at := OLD.updated_at;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS apiauth_keys_touch ON apiauth_keys;
CREATE TRIGGER apiauth_keys_touch BEFORE UPDATE ON apiauth_keys
    FOR EACH ROW EXECUTE FUNCTION apiauth_keys_touch();

-- Every change but last_used_at is announced on the channel apiauth_keys,
-- with the key's digest in hex as payload, when it commits.
CREATE OR REPLACE FUNCTION apiauth_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('apiauth_keys', encode(OLD.digest, 'hex'));
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.digest <> NEW.digest THEN
        PERFORM pg_notify('apiauth_keys', encode(OLD.digest, 'hex'));
    END IF;
    PERFORM pg_notify('apiauth_keys', encode(NEW.digest, 'hex'));
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS apiauth_keys_notify ON apiauth_keys;
CREATE TRIGGER apiauth_keys_notify AFTER INSERT OR DELETE ON apiauth_keys
    FOR EACH ROW EXECUTE FUNCTION apiauth_keys_notify();
DROP TRIGGER IF EXISTS apiauth_keys_notify_update ON apiauth_keys;
CREATE TRIGGER apiauth_keys_notify_update AFTER UPDATE ON apiauth_keys
    FOR EACH ROW WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at)
    EXECUTE FUNCTION apiauth_keys_notify();
