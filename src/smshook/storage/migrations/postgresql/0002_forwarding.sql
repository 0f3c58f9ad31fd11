-- smshook schema, version 2 (PostgreSQL): forwarding (subscriptions and the delivery outbox).
-- The same logical schema as migrations/sqlite/0002_forwarding.sql.

-- Where events go. Config-file subscriptions (source = 'config') are upserted at start.
CREATE TABLE subscriptions (
    id              text COLLATE "C" PRIMARY KEY,
    kind            text NOT NULL,            -- webhook | redis
    target          text NOT NULL,            -- webhook URL or redis:// URL
    stream          text,                     -- redis stream name
    secrets         text NOT NULL,            -- JSON list of whsec_ secrets, current first
    filters         text NOT NULL,            -- JSON object (see forwarding/model.py Filters)
    enabled         boolean NOT NULL DEFAULT true,
    ordered         boolean NOT NULL DEFAULT false,
    timeout         double precision,
    source          text NOT NULL DEFAULT 'api',
    disabled_reason text,
    created_at      text NOT NULL,
    updated_at      text NOT NULL,
    successes       bigint NOT NULL DEFAULT 0,
    failures        bigint NOT NULL DEFAULT 0,
    last_error      text,
    last_error_at   double precision,
    last_success_at double precision
);

-- The transactional outbox: one row per (subscription, event), written in the same transaction as
-- the event. id is the webhook-id, stable across attempts and replays. Instances share the work with
-- SELECT ... FOR UPDATE SKIP LOCKED; a claimed row is 'delivering' until its lease (next_attempt_at).
CREATE TABLE deliveries (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- insertion order = event order
    id              text NOT NULL UNIQUE,
    subscription_id text COLLATE "C" NOT NULL,
    event_id        text COLLATE "C" NOT NULL,
    connection      text NOT NULL,
    message_id      text,
    state           text NOT NULL,             -- pending | delivering | delivered | dead
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL, -- unix seconds, for 'delivering': the lease expiry
    lease_owner     text,
    last_error      text,
    last_status     integer,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    delivered_at    double precision,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at) WHERE state IN ('pending', 'delivering');
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, state);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_message ON deliveries (subscription_id, connection, message_id, seq);
