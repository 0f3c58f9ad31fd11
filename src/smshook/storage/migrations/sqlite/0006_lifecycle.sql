-- smshook schema, version 6 (SQLite): message lifecycle (issue 15). Registrations of sent messages
-- (POST /v1/messages), the provider ids (parts) linked to them, the start of each message's clock
-- (stuck detection, time to delivery), synthetic finals, opt-outs and the background sweep's lease.

-- sent_at: the best known send time (the registration's sent_at, else the provider's own submit
-- time: the start of its time to delivery); first_seen: the start of its clock for stuck detection (the
-- registration's sent_at, else when smshook first heard of it: its first event);
-- synthetic: the current status is smshook's own `expired` (no final receipt within final_within).
ALTER TABLE messages ADD COLUMN first_seen TEXT;
ALTER TABLE messages ADD COLUMN sent_at TEXT;
ALTER TABLE messages ADD COLUMN synthetic INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET first_seen = updated_at;
-- Stuck detection: the messages still open, by connection and the start of their clock.
CREATE INDEX messages_open ON messages (connection, first_seen)
    WHERE status IN ('pending', 'sent', 'buffered', 'unknown');
CREATE INDEX messages_synthetic ON messages (updated_at) WHERE synthetic = 1;

-- What the application registered (one row per sent message).
CREATE TABLE registrations (
    connection    TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    reference     TEXT,
    recipient     TEXT NOT NULL,
    sender        TEXT,
    parts         TEXT,                    -- JSON list of the parts' provider ids, or NULL
    sent_at       TEXT NOT NULL,
    sent_at_given INTEGER NOT NULL,        -- 1: sent_at came with the registration (else: its time)
    metadata      TEXT,                    -- JSON object, or NULL
    registered_at TEXT NOT NULL,
    PRIMARY KEY (connection, message_id)
) WITHOUT ROWID;
CREATE INDEX registrations_reference ON registrations (reference) WHERE reference IS NOT NULL;

-- Every provider id a registration tracks (the message id itself, or each part) -> the registration.
CREATE TABLE message_links (
    connection  TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    PRIMARY KEY (connection, provider_id)
) WITHOUT ROWID;

-- GET /v1/optouts/check: a subscriber's opt-out and opt-in events (sender = the subscriber,
-- recipient = our number or sender id, NULL for "every sender"), newest last.
CREATE INDEX events_optouts ON events (sender, recipient, id) WHERE type IN ('optout', 'optin');

-- One background sweep at a time (the stuck-message detector), whatever the number of processes.
CREATE TABLE lifecycle_leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);
