-- OpenID Connect sessions (issue 12): a session's `sid`, kept when the same user
-- signs in again in the same browser, and the clients each session signed into, for
-- Back-Channel Logout when it ends. Keep equivalent to the other flavour.
ALTER TABLE sessions ADD COLUMN sid TEXT;
CREATE TABLE session_clients (
    sid        TEXT    NOT NULL,
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    subject    TEXT    NOT NULL REFERENCES users (subject) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (sid, client_id)
);
CREATE INDEX session_clients_expires_at ON session_clients (expires_at);
