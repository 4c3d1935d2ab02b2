-- Portcullis schema, PostgreSQL flavour. Keep it equivalent to migrations/sqlite.
-- Timestamps are UTC seconds; scopes are space-delimited text; lists are JSON arrays.
-- Tokens, codes, client secrets and session ids are stored as hashes only.

CREATE TABLE clients (
    seq                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id                  TEXT    NOT NULL UNIQUE,
    client_secret_hash         TEXT,
    client_name                TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL, -- JSON array of strings
    scope                      TEXT    NOT NULL,
    grant_types                TEXT    NOT NULL, -- JSON array of strings
    response_types             TEXT    NOT NULL, -- JSON array of strings
    token_endpoint_auth_method TEXT    NOT NULL,
    audience                   TEXT    NOT NULL DEFAULT '[]', -- JSON array: the aud of its tokens
    resource_server_audience   TEXT,                          -- as a resource server, the audience it serves
    created_at                 BIGINT  NOT NULL
);

CREATE TABLE users (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject       TEXT    NOT NULL UNIQUE,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT,
    name          TEXT,
    password_hash TEXT    NOT NULL, -- Argon2id PHC string
    created_at    BIGINT  NOT NULL
);

CREATE TABLE tokens (
    access_token_hash        TEXT    NOT NULL PRIMARY KEY,
    refresh_token_hash       TEXT,
    client_id                TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope                    TEXT    NOT NULL,
    subject                  TEXT,
    grant_type               TEXT    NOT NULL,
    grant_id                 TEXT    NOT NULL,
    issued_at                BIGINT  NOT NULL,
    expires_in               BIGINT  NOT NULL,
    expires_at               BIGINT  NOT NULL, -- issued_at + expires_in, for purging
    refresh_token_expires_at BIGINT,
    revoked                  BOOLEAN NOT NULL DEFAULT FALSE,
    audience                 TEXT    NOT NULL DEFAULT '[]' -- JSON array
);
-- Every index costs each token insert a B-tree write, so indexes skip the rows that
-- never need them: client_credentials tokens have no refresh token and no subject,
-- and their grant is never revoked as a whole (no code, no refresh token to replay).
CREATE UNIQUE INDEX tokens_refresh_token_hash ON tokens (refresh_token_hash)
    WHERE refresh_token_hash IS NOT NULL;
CREATE INDEX tokens_grant_id ON tokens (grant_id) WHERE grant_type <> 'client_credentials';
CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_subject ON tokens (subject) WHERE subject IS NOT NULL;
CREATE INDEX tokens_expires_at ON tokens (expires_at);

-- Grants revoked because a code or refresh token was replayed. A token saved for a
-- grant listed here (the legitimate redemption racing the replay) is revoked at once.
CREATE TABLE revoked_grants (
    grant_id   TEXT    NOT NULL PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);

CREATE TABLE authorization_codes (
    code_hash             TEXT    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    redirect_uri          TEXT,
    scope                 TEXT    NOT NULL,
    subject               TEXT    NOT NULL,
    nonce                 TEXT,
    auth_time             BIGINT,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    issued_at             BIGINT  NOT NULL,
    expires_at            BIGINT  NOT NULL,
    grant_id              TEXT    NOT NULL,
    used                  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX authorization_codes_client_id ON authorization_codes (client_id);
CREATE INDEX authorization_codes_subject ON authorization_codes (subject);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

CREATE TABLE sessions (
    id_hash    TEXT    NOT NULL PRIMARY KEY, -- SHA-256 of the cookie value
    subject    TEXT    REFERENCES users (subject) ON DELETE CASCADE,
    csrf_token TEXT    NOT NULL,
    auth_time  BIGINT,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    subject    TEXT    NOT NULL REFERENCES users (subject) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (subject, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

CREATE TABLE login_throttle (
    throttle_key    TEXT    NOT NULL PRIMARY KEY, -- e.g. 'user:alice', 'ip:127.0.0.1'
    failures        BIGINT  NOT NULL,
    last_failure_at BIGINT  NOT NULL
);
