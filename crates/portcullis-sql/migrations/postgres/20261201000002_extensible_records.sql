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

-- Authorization requests waiting for sign-in and consent (issue 10): validated once
-- at the authorization endpoint, then continued by id by the sign-in and consent
-- pages. The id and the browser binding are stored as hashes; a row works until
-- expires_at and is deleted when the decision completes it.
CREATE TABLE authorization_requests (
    id_hash      TEXT   NOT NULL PRIMARY KEY,
    client_id    TEXT   NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    params       TEXT   NOT NULL, -- JSON array of [name, value] pairs
    scope        TEXT   NOT NULL, -- the scope asked for, as validated
    binding_hash TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX authorization_requests_expires_at ON authorization_requests (expires_at);

-- A rotation or revocation flips `revoked` on a token row. With room left on each
-- page, PostgreSQL updates the row in place (a HOT update) instead of writing a new
-- version into every index of the table.
ALTER TABLE tokens SET (fillfactor = 80);
