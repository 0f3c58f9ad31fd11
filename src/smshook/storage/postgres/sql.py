"""The PostgreSQL store's own statements: ``unnest`` array inserts with ``ON CONFLICT`` as the arbiter
between instances, feed numbering from a counter row, ``FOR UPDATE SKIP LOCKED`` claims, and the
statistics queries (``:name`` parameters, numbered by :func:`named`)."""

from __future__ import annotations

import re
from typing import Any

from smshook.storage.queries import EVENT_COLUMNS


def marks(start: int, count: int) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))


INSERT_EVENT = (
    f"INSERT INTO events ({EVENT_COLUMNS}, key, raw_request_id, effect) VALUES ({marks(1, 24)}) "
    "ON CONFLICT (key) DO NOTHING RETURNING seq"
)
# Number this transaction's new events after every position already committed; the counter row's
# lock is held until COMMIT, so positions grow in commit order across instances.
FEED_NUMBER = (
    "WITH counter AS (UPDATE feed_counter SET last = last + cardinality($1::bigint[]) WHERE id = 1 "
    "RETURNING last - cardinality($1::bigint[]) AS base), "
    "numbered AS (SELECT s.seq, s.i FROM unnest($1::bigint[]) WITH ORDINALITY AS s(seq, i)) "
    "UPDATE events SET feed_pos = counter.base + numbered.i FROM counter, numbered WHERE events.seq = numbered.seq"
)
# Many events in one statement (one array per column), the same conflict rule.
INSERT_EVENTS = (
    f"INSERT INTO events ({EVENT_COLUMNS}, key, raw_request_id, effect) SELECT * FROM unnest("
    + ", ".join(f"${i}::{'bytea' if i == 22 else 'text'}[]" for i in range(1, 25))
    + ") ON CONFLICT (key) DO NOTHING RETURNING seq, key"
)
INSERT_RAW = (
    "INSERT INTO raw_requests (id, connection, provider, method, path, query, headers, body, client, "
    f"received_at, new_events, duplicates) VALUES ({marks(1, 12)})"
)
# As in the SQLite store: first_seen set on insert, sent_at (provider submit time) only fills a gap.
UPSERT_MESSAGE = (
    "INSERT INTO messages (connection, message_id, status, occurred_at, conflict, updated_at, synthetic, first_seen, "
    "sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $8) ON CONFLICT (connection, message_id) DO UPDATE SET "
    "status = excluded.status, occurred_at = excluded.occurred_at, conflict = excluded.conflict, "
    "updated_at = excluded.updated_at, synthetic = excluded.synthetic, "
    "sent_at = coalesce(messages.sent_at, excluded.sent_at)"
)
INSERT_DELIVERY = (
    "INSERT INTO deliveries (id, subscription_id, event_id, connection, message_id, state, attempts, "
    "next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8) "
    "ON CONFLICT DO NOTHING"
)
# Due deliveries of enabled subscriptions (for ordered ones only the first unfinished one per message),
# locked without waiting for rows another instance is claiming, then leased in the same statement.
CLAIM = (
    "WITH due AS (SELECT d.seq, d.next_attempt_at AS due_at FROM deliveries d "
    "JOIN subscriptions s ON s.id = d.subscription_id AND s.enabled "
    "WHERE d.state IN ('pending', 'delivering') AND d.next_attempt_at <= $1 "
    "AND (NOT s.ordered OR d.message_id IS NULL OR NOT EXISTS ("
    "SELECT 1 FROM deliveries e WHERE e.subscription_id = d.subscription_id AND e.connection = d.connection "
    "AND e.message_id = d.message_id AND e.seq < d.seq AND e.state IN ('pending', 'delivering'))) "
    "AND d.subscription_id <> ALL($5::text[]) "
    "ORDER BY d.next_attempt_at, d.seq LIMIT $2 FOR UPDATE OF d SKIP LOCKED) "
    "UPDATE deliveries SET state = 'delivering', lease_owner = $3, next_attempt_at = $4, updated_at = $1 "
    "FROM due WHERE deliveries.seq = due.seq "
    "RETURNING deliveries.seq, deliveries.id, deliveries.subscription_id, deliveries.event_id, deliveries.attempts, "
    "due.due_at"
)


# Statistics (see smshook.stats), as in the SQLite store: one row per sent message whose first event was
# received in [:lo, :hi) (fixed-width stamps, exact to the millisecond), with its bucket (from :start, unix
# seconds), outcome and time to delivery.
_EPOCH = "extract(epoch FROM ({0})::timestamptz)::float8"
STATS_MESSAGES = (
    "WITH candidates AS (SELECT DISTINCT connection, message_id FROM events "
    "WHERE received_at >= :lo AND received_at < :hi AND type = 'status' AND message_id IS NOT NULL{by_connection}), "
    "per_message AS (SELECT e.connection, e.message_id, min(e.provider) AS provider, "
    f"min({_EPOCH.format('e.received_at')}) AS first_received, min(e.received_at) AS first_received_at, "
    f"min({_EPOCH.format('coalesce(e.occurred_at, e.received_at)')}) AS first_time, count(*) AS n, "
    "min(CASE WHEN e.status IN ('delivered', 'read') THEN "
    f"{_EPOCH.format('coalesce(e.occurred_at, e.received_at)')} END) AS delivered_time, "
    "max(CASE WHEN e.effect = 'applied' AND e.status IN ('undelivered', 'expired', 'rejected', 'failed') "
    "THEN e.seq END) AS final_seq, max(e.network) AS network "
    "FROM candidates c JOIN events e ON e.connection = c.connection AND e.message_id = c.message_id "
    "WHERE e.type = 'status' GROUP BY e.connection, e.message_id), "
    "m AS MATERIALIZED (SELECT p.connection, p.provider, "
    "floor((p.first_received - :start::float8) / :bucket::float8)::int AS bucket, "
    "coalesce(s.status, 'pending') AS status, "
    "CASE WHEN s.status IN ('undelivered', 'expired', 'rejected', 'failed') THEN f.failure_class END "
    "AS failure_class, p.network::jsonb ->> 'country' AS country, p.network::jsonb ->> 'operator' AS operator, "
    # from the best known start, as in the SQLite store (a lone receipt has none: NULL; greatest() skips
    # NULLs, so the floor is d - d, itself NULL when d is)
    "CASE WHEN s.status IN ('delivered', 'read') THEN (SELECT greatest(d, d - d) FROM (SELECT p.delivered_time - "
    f"coalesce({_EPOCH.format('s.sent_at')}, CASE WHEN p.n > 1 THEN p.first_time END) AS d) AS x) END AS ttd "
    "FROM per_message p LEFT JOIN messages s ON s.connection = p.connection AND s.message_id = p.message_id "
    "LEFT JOIN events f ON f.seq = p.final_seq "
    "WHERE p.first_received_at >= :lo AND p.first_received_at < :hi)"
)
STATS_COUNTS = (
    "SELECT connection, provider, bucket, status, failure_class, country, operator, count(*)::int FROM m "
    "GROUP BY connection, provider, bucket, status, failure_class, country, operator"
)
# Medians per bucket and per connection (bucket NULL): the middle row, or the mean of the middle two.
STATS_MEDIANS = (
    ", ranked AS (SELECT connection, bucket, ttd, "
    "row_number() OVER (PARTITION BY connection, bucket ORDER BY ttd) AS i, "
    "count(*) OVER (PARTITION BY connection, bucket) AS n, "
    "row_number() OVER (PARTITION BY connection ORDER BY ttd) AS i_all, "
    "count(*) OVER (PARTITION BY connection) AS n_all FROM m WHERE ttd IS NOT NULL) "
    "SELECT connection, bucket, avg(ttd) FROM ranked WHERE i IN ((n + 1) / 2, (n + 2) / 2) "
    "GROUP BY connection, bucket "
    "UNION ALL SELECT connection, NULL, avg(ttd) FROM ranked WHERE i_all IN ((n_all + 1) / 2, (n_all + 2) / 2) "
    "GROUP BY connection"
)
STATS_P90 = "SELECT connection, percentile_cont(0.9) WITHIN GROUP (ORDER BY ttd) FROM m WHERE ttd IS NOT NULL " \
    "GROUP BY connection"


def named(sql: str, values: dict[str, Any]) -> list[Any]:
    """``sql`` with ``:name`` parameters as ``$n``, followed by the arguments (for ``fetch(*...)``)."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in order:
            order.append(match[1])
        return f"${order.index(match[1]) + 1}"

    text = re.sub(r"(?<![:\w]):([a-z_]+)", number, sql)
    return [text, *(values[name] for name in order)]
