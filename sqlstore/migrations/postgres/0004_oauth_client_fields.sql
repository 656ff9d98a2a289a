-- apiauth sqlstore, PostgreSQL, version 4: what the authorization-code
-- flow needs to know of a client: the name its consent page shows, whether
-- it is public (no secret: RFC 6749 §2.1), and its redirection endpoints.
-- Clients of version 2 read as confidential, unnamed, without any.
ALTER TABLE apiauth_oauth_clients
    ADD COLUMN IF NOT EXISTS name          TEXT NOT NULL DEFAULT '',      -- '': the client ID
    ADD COLUMN IF NOT EXISTS public        BOOLEAN NOT NULL DEFAULT false,
    -- A JSON array of strings, in order, since a URI may hold a space.
    ADD COLUMN IF NOT EXISTS redirect_uris TEXT NOT NULL DEFAULT '[]';
