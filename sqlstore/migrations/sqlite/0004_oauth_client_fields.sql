-- apiauth sqlstore, SQLite, version 4: what the authorization-code flow
-- needs to know of a client: the name its consent page shows, whether it
-- is public (no secret: RFC 6749 §2.1), and its redirection endpoints.
-- Clients of version 2 read as confidential, unnamed, without any.
-- SQLite has no ADD COLUMN IF NOT EXISTS: run this file once (Migrate
-- records it in apiauth_schema_migrations).
ALTER TABLE apiauth_oauth_clients ADD COLUMN name TEXT NOT NULL DEFAULT '';  -- '': the client ID
ALTER TABLE apiauth_oauth_clients ADD COLUMN public INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1));
-- A JSON array of strings, in order, since a URI may hold a space.
ALTER TABLE apiauth_oauth_clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
