-- smshook schema, version 2 (SQLite): forwarding (subscriptions and the delivery outbox).

-- Where events go. Config-file subscriptions (source = 'config') are upserted at start.
CREATE TABLE subscriptions (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,            -- webhook | redis
    target          TEXT NOT NULL,            -- webhook URL or redis:// URL
    stream          TEXT,                     -- redis stream name
    secrets         TEXT NOT NULL,            -- JSON list of whsec_ secrets, current first
    filters         TEXT NOT NULL,            -- JSON object (see forwarding/model.py Filters)
    enabled         INTEGER NOT NULL DEFAULT 1,
    ordered         INTEGER NOT NULL DEFAULT 0,
    timeout         REAL,
    source          TEXT NOT NULL DEFAULT 'api',
    disabled_reason TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    successes       INTEGER NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_error_at   REAL,
    last_success_at REAL
);

-- The transactional outbox: one row per (subscription, event), written in the same transaction as
-- the event. id is the webhook-id, stable across attempts and replays.
CREATE TABLE deliveries (
    seq             INTEGER PRIMARY KEY,       -- insertion order = event order per message
    id              TEXT NOT NULL UNIQUE,
    subscription_id TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    connection      TEXT NOT NULL,
    message_id      TEXT,
    state           TEXT NOT NULL,             -- pending | delivering | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,             -- unix seconds, for 'delivering': the lease expiry
    lease_owner     TEXT,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    delivered_at    REAL,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at) WHERE state IN ('pending', 'delivering');
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, state);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_message ON deliveries (subscription_id, connection, message_id, seq);
