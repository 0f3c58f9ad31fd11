-- smshook schema, version 10 (SQLite): opt-outs survive erasure. An erased number's opt-out state
-- (the latest opt-out or opt-in per sender scope) is kept under a keyed one-way hash of the number,
-- so GET /v1/optouts/check still refuses it, while the number itself is stored nowhere.

-- The key of that hash: 32 random bytes made by smshook the first time it erases a number (one row).
CREATE TABLE privacy_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    secret     BLOB NOT NULL,
    created_at TEXT NOT NULL
);

-- Per erased number and sender scope, its latest opt-out / opt-in event at the time of erasure.
CREATE TABLE erased_optouts (
    phone_hash TEXT NOT NULL,               -- hex HMAC-SHA256 of the number's digits under privacy_key
    scope      TEXT NOT NULL,               -- our number or sender id it applies to ('': every sender)
    type       TEXT NOT NULL,               -- optout | optin
    event_id   TEXT NOT NULL,               -- the (anonymized) event: orders it among later events
    at         TEXT NOT NULL,               -- its time (occurred_at, else received_at)
    keyword    TEXT,
    connection TEXT NOT NULL,
    erased_at  TEXT NOT NULL,
    PRIMARY KEY (phone_hash, scope)
) WITHOUT ROWID;
-- GET /v1/optouts without a number: the erased entries still opted out, newest first.
CREATE INDEX erased_optouts_listing ON erased_optouts (event_id) WHERE type = 'optout';
