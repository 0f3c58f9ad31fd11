-- smshook schema, version 1 (PostgreSQL). The same logical schema as migrations/sqlite/0001_init.sql.
-- Ids and ISO 8601 times are text compared byte-wise (COLLATE "C") so that ordering and cursors do not
-- depend on the database's locale.

-- Every HTTP request that passed authentication, as received (secrets removed from path/headers).
CREATE TABLE raw_requests (
    id          text COLLATE "C" PRIMARY KEY,
    connection  text NOT NULL,
    provider    text NOT NULL,
    method      text NOT NULL,
    path        text NOT NULL,
    query       text NOT NULL,
    headers     text NOT NULL,             -- JSON [[name, value], ...]
    body        bytea NOT NULL,
    client      text,
    received_at text COLLATE "C" NOT NULL,
    new_events  integer NOT NULL DEFAULT 0,
    duplicates  integer NOT NULL DEFAULT 0
);

-- Normalized events (the public contract), deduplicated by their idempotency key: the unique
-- constraint on key is the arbiter between concurrent writers (INSERT ... ON CONFLICT (key) DO NOTHING).
CREATE TABLE events (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              text COLLATE "C" NOT NULL UNIQUE,  -- UUIDv7, sorts by time of receipt
    key             bytea NOT NULL UNIQUE,             -- idempotency key
    type            text NOT NULL,
    connection      text NOT NULL,
    provider        text NOT NULL,
    message_id      text,
    status          text,
    provider_status text,
    failure_class   text,
    channel         text NOT NULL,
    sender          text,
    recipient       text,
    text            text,
    keyword         text,
    reply_to        text,
    reference       text,
    occurred_at     text COLLATE "C",
    received_at     text COLLATE "C" NOT NULL,
    price           text,
    currency        text,
    network         text,                  -- JSON object or NULL
    details         text NOT NULL,         -- JSON object
    raw_request_id  text NOT NULL,
    effect          text                   -- status events: applied | unchanged | late | conflict
);
CREATE INDEX events_message ON events (connection, message_id);
CREATE INDEX events_reply_to ON events (connection, reply_to) WHERE reply_to IS NOT NULL;
CREATE INDEX events_received ON events (received_at);

-- One current status per sent message (the projection of its status events).
CREATE TABLE messages (
    connection  text NOT NULL,
    message_id  text NOT NULL,
    status      text NOT NULL,
    occurred_at text COLLATE "C",
    conflict    boolean NOT NULL DEFAULT false,
    updated_at  text NOT NULL,
    PRIMARY KEY (connection, message_id)
);

-- Authenticated requests we could not read, kept for re-processing. Identical retries are counted.
CREATE TABLE quarantine (
    id             text COLLATE "C" PRIMARY KEY,
    digest         bytea NOT NULL UNIQUE,
    connection     text NOT NULL,
    provider       text NOT NULL,
    reason         text NOT NULL,
    http_status    integer NOT NULL,
    attempts       integer NOT NULL DEFAULT 1,
    first_seen     text NOT NULL,
    last_seen      text NOT NULL,
    raw_request_id text NOT NULL,
    reprocessed_at text
);
