-- smshook schema, version 7 (PostgreSQL): batch mode per subscription (issue 18).

-- Up to batch_max events in one signed POST (a JSON array), waiting at most batch_wait seconds for
-- the batch to fill. batch_max = 1 (the default): one event per webhook, as before.
ALTER TABLE subscriptions ADD COLUMN batch_max integer NOT NULL DEFAULT 1;
ALTER TABLE subscriptions ADD COLUMN batch_wait double precision NOT NULL DEFAULT 0;

-- Claims take the due deliveries in (next_attempt_at, seq) order: an index in exactly that order lets
-- a claim read only the rows it takes, instead of sorting the whole backlog each time. It replaces
-- deliveries_due (state, next_attempt_at), which made the planner sort all due rows for every claim.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_claim ON deliveries (next_attempt_at, seq) WHERE state IN ('pending', 'delivering');
