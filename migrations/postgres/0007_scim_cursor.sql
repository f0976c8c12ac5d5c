-- The key that signs SCIM cursors (RFC 9865 `nextCursor`). One row, written by the first
-- instance that needs it and read by every other, so a cursor from one instance is good on all.
CREATE TABLE scim_cursor_keys (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    secret     BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
