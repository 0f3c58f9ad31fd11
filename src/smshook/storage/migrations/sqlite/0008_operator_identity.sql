-- smshook schema, version 8 (SQLite): the database's identity, and replays that keep the count of
-- earlier attempts.

-- A random id made once per database: `smshook doctor` compares the id its configuration leads to
-- with the one a running server reports (GET /identity), so two processes on two databases show.
CREATE TABLE smshook_identity (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    database_id TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
INSERT INTO smshook_identity (id, database_id, created_at)
VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- A replay starts a new round of the retry schedule (attempts = 0) but no longer forgets the earlier
-- rounds: their attempts are added up here, and the replays counted.
ALTER TABLE deliveries ADD COLUMN earlier_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN replays INTEGER NOT NULL DEFAULT 0;
