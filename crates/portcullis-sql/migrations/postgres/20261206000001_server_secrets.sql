-- Secrets the server generates once and every instance shares (issue 12): the salt of
-- pairwise subject identifiers. One row per name, written once (the first instance to
-- insert wins; the others read its value). value is sealed by the server with the
-- key-encryption key ("aes256gcm:…"), or marked "plain:…" when none is configured.
-- Keep equivalent to the other flavour.
CREATE TABLE server_secrets (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
