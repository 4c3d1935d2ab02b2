-- Extensible records (issue 10). Keep equivalent to the other flavour.
--
-- What a record holds beyond the columns it is looked up or filtered by, as one JSON
-- object, so that a new field is a struct change and needs no migration. For tokens:
-- the grant's absolute end (`grant_expires_at`, a column until now) and what
-- extensions record; for codes: what the authorization request recorded; for clients:
-- every other registration member (RFC 7591 / OpenID Connect Registration).
ALTER TABLE tokens ADD COLUMN extras TEXT NOT NULL DEFAULT '{}';
UPDATE tokens SET extras = json_build_object('grant_expires_at', grant_expires_at)::text
    WHERE grant_expires_at IS NOT NULL;
ALTER TABLE tokens DROP COLUMN grant_expires_at;
ALTER TABLE authorization_codes ADD COLUMN extras TEXT NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
