-- apiauth sqlstore, PostgreSQL, version 6: the rate-limit tier of the
-- tokens of the authorization-code flow (oauth.User.Tier of the user who
-- approved), kept by a code and by the grant its redemption starts. Codes
-- and grants of version 5 read as of the default tier (''): a constant
-- default, so that adding the columns does not rewrite the tables.
ALTER TABLE apiauth_oauth_codes ADD COLUMN IF NOT EXISTS tier TEXT NOT NULL DEFAULT '';
ALTER TABLE apiauth_oauth_grants ADD COLUMN IF NOT EXISTS tier TEXT NOT NULL DEFAULT '';

-- The store never changes a grant's tier, but a change by hand moves
-- updated_at (and so is announced, and found by a poll) as any other
-- does: version 5's trigger function, with the tier.
CREATE OR REPLACE FUNCTION apiauth_oauth_grants_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF ROW(NEW.grant_id, NEW.client_id, NEW.subject, NEW.tenant, NEW.tier, NEW.scopes, NEW.created_at,
           NEW.expires_at, NEW.idle_expires_at, NEW.revoked_at, NEW.refresh_digest)
       IS DISTINCT FROM
       ROW(OLD.grant_id, OLD.client_id, OLD.subject, OLD.tenant, OLD.tier, OLD.scopes, OLD.created_at,
           OLD.expires_at, OLD.idle_expires_at, OLD.revoked_at, OLD.refresh_digest) THEN
        NEW.updated_at := GREATEST(clock_timestamp(), OLD.updated_at + interval '1 microsecond');
    ELSE
        NEW.updated_at := OLD.updated_at;
    END IF;
    RETURN NEW;
END $$;
