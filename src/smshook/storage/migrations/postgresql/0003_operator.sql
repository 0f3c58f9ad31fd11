-- smshook schema, version 3 (PostgreSQL): look-up by phone number, the outcome of re-processing a
-- quarantined request, and live-feed positions. The same logical schema as sqlite/0003_operator.sql,
-- plus the feed position: SQLite's single writer makes events.seq grow in commit order, while here
-- concurrent transactions (several instances) commit in any order, so each transaction numbers its
-- events from feed_counter while holding that row's lock until COMMIT.

-- GET /v1/events?phone=…: events whose `from` or `to` is the number.
CREATE INDEX events_sender ON events (sender) WHERE sender IS NOT NULL;
CREATE INDEX events_recipient ON events (recipient) WHERE recipient IS NOT NULL;

-- JSON {"events": new, "duplicates": n}, set with reprocessed_at.
ALTER TABLE quarantine ADD COLUMN reprocess_result text;

-- The live feed: positions that only grow in commit order, across every instance.
ALTER TABLE events ADD COLUMN feed_pos bigint;
UPDATE events SET feed_pos = seq;
CREATE UNIQUE INDEX events_feed ON events (feed_pos);
CREATE TABLE feed_counter (
    id   integer PRIMARY KEY CHECK (id = 1),
    last bigint NOT NULL
);
INSERT INTO feed_counter (id, last) SELECT 1, coalesce(max(seq), 0) FROM events;
