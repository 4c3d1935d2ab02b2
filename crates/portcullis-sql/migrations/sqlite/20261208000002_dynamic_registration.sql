-- Dynamic client registration (RFC 7591, RFC 7592; issue 13). Keep equivalent to the
-- other flavour.
--
-- A client registered through the registration endpoint holds the hash of its
-- registration access token (RFC 7592 §1.1, rotated on every update); clients made
-- by the CLI have none. last_used_at is when it last obtained a token (written at
-- most about hourly per instance): registrations that never obtain one, or stop
-- using theirs, are removed after the configured time.
ALTER TABLE clients ADD COLUMN registration_access_token_hash TEXT;
ALTER TABLE clients ADD COLUMN last_used_at INTEGER;

-- Initial access tokens (RFC 7591 §3): bearer tokens an operator mints
-- (`portcullis registration-token create`) that allow registering clients when the
-- setting `registration` is `initial_access_token`. Stored as hashes only.
CREATE TABLE registration_tokens (
    token_hash TEXT    PRIMARY KEY,
    created_at INTEGER  NOT NULL,
    expires_at INTEGER,           -- NULL: never
    max_uses   INTEGER,           -- NULL: unlimited
    uses       INTEGER  NOT NULL DEFAULT 0
);
