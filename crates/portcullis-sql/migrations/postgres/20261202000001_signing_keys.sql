-- Signing keys (issue 11). Keep equivalent to the other flavour.
--
-- One row per key. Its state follows from the times: "next" (published, not signing
-- yet) before activates_at, "current" until retires_at, "retired" (still published)
-- until expires_at, then removed. private_key is sealed by the server with the
-- key-encryption key ("aes256gcm:…"), or marked "plain:…" when none is configured.
-- (alg, generation) is unique so that two instances rotating at once create one key.
CREATE TABLE signing_keys (
    kid          TEXT   NOT NULL PRIMARY KEY,
    alg          TEXT   NOT NULL,
    generation   BIGINT NOT NULL,
    public_jwk   TEXT   NOT NULL,
    private_key  TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retires_at   BIGINT,
    expires_at   BIGINT,
    UNIQUE (alg, generation)
);
