-- smshook schema, version 1 (SQLite).

-- Every HTTP request that passed authentication, as received (secrets removed from path/headers).
CREATE TABLE raw_requests (
    id          TEXT PRIMARY KEY,
    connection  TEXT NOT NULL,
    provider    TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    query       TEXT NOT NULL,
    headers     TEXT NOT NULL,             -- JSON [[name, value], ...]
    body        BLOB NOT NULL,
    client      TEXT,
    received_at TEXT NOT NULL,
    new_events  INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0
);

-- Normalized events (the public contract), deduplicated by their idempotency key.
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,  -- UUIDv7, sorts by time of receipt
    key             BLOB NOT NULL UNIQUE,  -- idempotency key
    type            TEXT NOT NULL,
    connection      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    message_id      TEXT,
    status          TEXT,
    provider_status TEXT,
    failure_class   TEXT,
    channel         TEXT NOT NULL,
    sender          TEXT,
    recipient       TEXT,
    text            TEXT,
    keyword         TEXT,
    reply_to        TEXT,
    reference       TEXT,
    occurred_at     TEXT,
    received_at     TEXT NOT NULL,
    price           TEXT,
    currency        TEXT,
    network         TEXT,                  -- JSON object or NULL
    details         TEXT NOT NULL,         -- JSON object
    raw_request_id  TEXT NOT NULL,
    effect          TEXT                   -- status events: applied | unchanged | late | conflict
);
CREATE INDEX events_message ON events (connection, message_id);
CREATE INDEX events_reply_to ON events (connection, reply_to) WHERE reply_to IS NOT NULL;
CREATE INDEX events_received ON events (received_at);

-- One current status per sent message (the projection of its status events).
CREATE TABLE messages (
    connection  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    occurred_at TEXT,
    conflict    INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (connection, message_id)
) WITHOUT ROWID;

-- Authenticated requests we could not read, kept for re-processing. Identical retries are counted.
CREATE TABLE quarantine (
    id             TEXT PRIMARY KEY,
    digest         BLOB NOT NULL UNIQUE,
    connection     TEXT NOT NULL,
    provider       TEXT NOT NULL,
    reason         TEXT NOT NULL,
    http_status    INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 1,
    first_seen     TEXT NOT NULL,
    last_seen      TEXT NOT NULL,
    raw_request_id TEXT NOT NULL,
    reprocessed_at TEXT
);
