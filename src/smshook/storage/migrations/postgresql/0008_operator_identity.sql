-- smshook schema, version 8 (PostgreSQL): the same logical schema as sqlite/0008_operator_identity.sql.

-- A random id made once per database: `smshook doctor` compares the id its configuration leads to
-- with the one a running server reports (GET /identity), so two processes on two databases show.
CREATE TABLE smshook_identity (
    id          integer PRIMARY KEY CHECK (id = 1),
    database_id text NOT NULL,
    created_at  text NOT NULL
);
INSERT INTO smshook_identity (id, database_id, created_at)
VALUES (1, md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text),
        to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));

-- A replay starts a new round of the retry schedule (attempts = 0) but no longer forgets the earlier
-- rounds: their attempts are added up here, and the replays counted.
ALTER TABLE deliveries ADD COLUMN earlier_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN replays integer NOT NULL DEFAULT 0;
