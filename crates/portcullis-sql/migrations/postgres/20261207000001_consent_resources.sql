-- Resource indicators (RFC 8707, issue 13): the resources (APIs) a user consented to
-- let a client's tokens reach, beside the scope in consents; keys as
-- portcullis_core::extensions::resource_key gives them. Keep equivalent to the other
-- flavour.
CREATE TABLE consent_resources (
    subject    TEXT    NOT NULL REFERENCES users (subject) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    resource   TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id, resource)
);
