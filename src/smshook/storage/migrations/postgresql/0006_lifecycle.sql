-- smshook schema, version 6 (PostgreSQL): message lifecycle (issue 15). The same logical schema as
-- sqlite/0006_lifecycle.sql (read the comments there).

ALTER TABLE messages ADD COLUMN first_seen text COLLATE "C";
ALTER TABLE messages ADD COLUMN sent_at text COLLATE "C";
ALTER TABLE messages ADD COLUMN synthetic integer NOT NULL DEFAULT 0;
UPDATE messages SET first_seen = updated_at;
CREATE INDEX messages_open ON messages (connection, first_seen)
    WHERE status IN ('pending', 'sent', 'buffered', 'unknown');
CREATE INDEX messages_synthetic ON messages (updated_at) WHERE synthetic = 1;

CREATE TABLE registrations (
    connection    text NOT NULL,
    message_id    text NOT NULL,
    reference     text,
    recipient     text NOT NULL,
    sender        text,
    parts         text,
    sent_at       text COLLATE "C" NOT NULL,
    sent_at_given integer NOT NULL,
    metadata      text,
    registered_at text COLLATE "C" NOT NULL,
    PRIMARY KEY (connection, message_id)
);
CREATE INDEX registrations_reference ON registrations (reference) WHERE reference IS NOT NULL;

CREATE TABLE message_links (
    connection  text NOT NULL,
    provider_id text NOT NULL,
    message_id  text NOT NULL,
    PRIMARY KEY (connection, provider_id)
);

CREATE INDEX events_optouts ON events (sender, recipient, id) WHERE type IN ('optout', 'optin');

CREATE TABLE lifecycle_leases (
    name  text PRIMARY KEY,
    owner text NOT NULL,
    until double precision NOT NULL
);
