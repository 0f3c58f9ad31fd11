-- smshook schema, version 4 (PostgreSQL): data protection. The same logical schema as
-- sqlite/0004_privacy.sql.

ALTER TABLE quarantine ADD COLUMN dismissed_at text;
ALTER TABLE quarantine ADD COLUMN dismissed_by text;
ALTER TABLE quarantine ADD COLUMN dismissed_reason text;

CREATE INDEX raw_requests_received ON raw_requests (received_at);
CREATE INDEX quarantine_raw ON quarantine (raw_request_id);

-- What was erased or pruned, by whom, with the counts (JSON). Never holds the phone number.
CREATE TABLE audit_log (
    id      text COLLATE "C" PRIMARY KEY,
    at      text COLLATE "C" NOT NULL,
    action  text NOT NULL,
    actor   text,
    detail  text NOT NULL
);

-- The readiness probe's scratch row: written and removed again to prove the store can commit.
CREATE TABLE write_probe (
    id  integer PRIMARY KEY,
    pad bytea NOT NULL
);
