-- smshook schema, version 4 (SQLite): data protection. Quarantine entries can be dismissed (kept,
-- marked resolved with who, why and when); erasures and prunes leave an audit row (never the phone
-- number); pruning by age needs raw requests by time; /readyz proves a write can commit.

ALTER TABLE quarantine ADD COLUMN dismissed_at TEXT;
ALTER TABLE quarantine ADD COLUMN dismissed_by TEXT;
ALTER TABLE quarantine ADD COLUMN dismissed_reason TEXT;

CREATE INDEX raw_requests_received ON raw_requests (received_at);
CREATE INDEX quarantine_raw ON quarantine (raw_request_id);

-- What was erased or pruned, by whom, with the counts (JSON). Never holds the phone number.
CREATE TABLE audit_log (
    id      TEXT PRIMARY KEY,                  -- UUIDv7
    at      TEXT NOT NULL,
    action  TEXT NOT NULL,                     -- erase | prune | dismiss
    actor   TEXT,
    detail  TEXT NOT NULL                      -- JSON object
);

-- The readiness probe's scratch row: written and removed again to prove the store can commit.
CREATE TABLE write_probe (
    id  INTEGER PRIMARY KEY,
    pad BLOB NOT NULL
);
