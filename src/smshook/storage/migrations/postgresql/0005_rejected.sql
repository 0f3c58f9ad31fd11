-- smshook schema, version 5 (PostgreSQL): the rejected-requests log (smshook.rejected): callbacks
-- whose authenticity check failed, masked, never stored as events. Identical requests share a digest.

CREATE TABLE rejected_requests (
    id TEXT PRIMARY KEY,
    digest BYTEA NOT NULL UNIQUE,
    connection TEXT NOT NULL,
    provider TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    body_truncated BOOLEAN NOT NULL DEFAULT FALSE,
    client TEXT
);

CREATE INDEX rejected_requests_connection ON rejected_requests (connection, id);
