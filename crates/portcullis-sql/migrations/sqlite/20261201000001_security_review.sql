-- Fixes from the outside security review (issue 9). Keep equivalent to the other flavour.

-- A grant's absolute end: no refresh token of the grant works after it, however often
-- it was rotated (rotation restarts only the idle lifetime, refresh_token_expires_at).
ALTER TABLE tokens ADD COLUMN grant_expires_at INTEGER;

-- Usernames compare by their normalized form (trimmed, NFKC, case-folded): 'Alice',
-- ' alice' and 'ALICE' are one user. Filled in by the store for existing rows (the
-- normalization is Unicode's, which SQL does not have); NULL only for a legacy row
-- whose normalized name another user already has.
ALTER TABLE users ADD COLUMN username_key TEXT;
CREATE UNIQUE INDEX users_by_username_key ON users (username_key);
-- A disabled user cannot sign in; their sessions and grants were ended when disabled.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

-- Sign-in throttling, redone: keys are stored as SHA-256 (never the typed username),
-- attempts in progress are counted apart from failures, and every row carries the time
-- after which it means nothing and is purged.
DROP TABLE login_throttle;
CREATE TABLE login_throttle (
    throttle_key    TEXT    NOT NULL PRIMARY KEY, -- base64url SHA-256 of 'account:…', 'address:…', 'pair:…'
    failures        INTEGER NOT NULL,  -- failed attempts counted in the current window
    pending         INTEGER NOT NULL,  -- attempts being checked right now
    window_start    INTEGER NOT NULL,  -- when the current window began (UTC seconds)
    last_failure_at INTEGER NOT NULL,  -- 0 when none
    expires_at      INTEGER NOT NULL   -- after this the row holds nothing that matters
);
CREATE INDEX login_throttle_expires_at ON login_throttle (expires_at);
