-- smshook schema, version 3 (SQLite): look-up by phone number, and the outcome of re-processing
-- a quarantined request.

-- GET /v1/events?phone=…: events whose `from` or `to` is the number (SQLite ORs the two indexes).
CREATE INDEX events_sender ON events (sender) WHERE sender IS NOT NULL;
CREATE INDEX events_recipient ON events (recipient) WHERE recipient IS NOT NULL;

-- JSON {"events": new, "duplicates": n}, set with reprocessed_at.
ALTER TABLE quarantine ADD COLUMN reprocess_result TEXT;
