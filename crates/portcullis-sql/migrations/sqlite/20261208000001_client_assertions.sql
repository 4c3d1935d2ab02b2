-- JWT client authentication (RFC 7523 §2.2, OpenID Connect Core §9): the assertions
-- (client_id, jti) already used, each kept until it expires (its exp plus the skew
-- allowed), so that a replay is refused on every instance sharing the database.
-- Removed by the purge of expired rows. No foreign key: a row outlives its client by
-- minutes at most. Keep equivalent to the other flavour.
CREATE TABLE client_assertions (
    client_id  TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);
