-- smshook schema, version 10 (PostgreSQL): the same logical schema as sqlite/0010_erased_optouts.sql
-- (read the comments there).

CREATE TABLE privacy_key (
    id         integer PRIMARY KEY CHECK (id = 1),
    secret     bytea NOT NULL,
    created_at text NOT NULL
);

CREATE TABLE erased_optouts (
    phone_hash text NOT NULL,
    scope      text NOT NULL,
    type       text NOT NULL,
    event_id   text COLLATE "C" NOT NULL,
    at         text NOT NULL,
    keyword    text,
    connection text NOT NULL,
    erased_at  text NOT NULL,
    PRIMARY KEY (phone_hash, scope)
);
CREATE INDEX erased_optouts_listing ON erased_optouts (event_id) WHERE type = 'optout';
