"""Query builders shared by both engines: column lists, and the reads (events, feed, quarantine,
deliveries) and replay's statements built once with :class:`Where`, which writes each parameter in
the engine's placeholder style: ``?`` for sqlite3, ``$n`` for asyncpg. Each builder returns
``(sql, args)``; the engine runs it (sqlite3: ``execute(sql, args)``, asyncpg: ``fetch(sql, *args)``).
What differs between the engines is a :class:`Dialect`, a few fields; no ORM, plain SQL text."""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from smshook.forwarding.model import DeliveryQuery, Outcome, ReplayQuery
from smshook.rejected import REJECTED_COLUMNS
from smshook.storage.contract import AppendResult, EventQuery
from smshook.storage.rows import AttemptCounters, ts_stamp

EVENT_COLUMNS = (
    "id, type, connection, provider, message_id, status, provider_status, failure_class, channel, "
    "sender, recipient, text, keyword, reply_to, reference, occurred_at, received_at, price, currency, "
    "network, details"
)
SUBSCRIPTION_COLUMNS = (
    "id, kind, target, stream, secrets, filters, enabled, ordered, timeout, source, disabled_reason, "
    "created_at, updated_at, batch_max, batch_wait"
)
DELIVERY_COLUMNS = (
    "d.seq, d.id, d.subscription_id, d.event_id, d.connection, d.message_id, d.state, d.attempts, "
    "d.next_attempt_at, d.last_error, d.last_status, d.created_at, d.updated_at, d.delivered_at, "
    "d.earlier_attempts, d.replays"
)
# A replay: a new round of the retry schedule, the earlier rounds' attempts kept (migration 0008).
REPLAY_SET = ("state = 'pending', earlier_attempts = earlier_attempts + attempts, attempts = 0, "
              "replays = replays + 1, lease_owner = NULL")


def upsert_subscription(dialect: Dialect) -> str:
    """Create or replace a subscription (values: :func:`smshook.storage.rows.subscription_row`), its
    counters kept; returns the row as stored."""
    where = Where(dialect)
    marks = ", ".join(where.mark(None) for _ in range(15))
    return (f"INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ({marks}) "
            "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, target = excluded.target, "
            "stream = excluded.stream, secrets = excluded.secrets, filters = excluded.filters, "
            "enabled = excluded.enabled, ordered = excluded.ordered, timeout = excluded.timeout, "
            "source = excluded.source, disabled_reason = excluded.disabled_reason, "
            "updated_at = excluded.updated_at, batch_max = excluded.batch_max, batch_wait = excluded.batch_wait "
            f"RETURNING {SUBSCRIPTION_COLUMNS}")


SUBSCRIPTION_STATS_SQL = "SELECT id, successes, failures, last_error, last_error_at, last_success_at FROM subscriptions"
DELIVERY_STATES_SQL = ("SELECT subscription_id, state, count(*), min(next_attempt_at) FROM deliveries "
                       "GROUP BY subscription_id, state")
# GET /v1/quarantine?state=…: open entries (not dismissed; the default), dismissed ones, or all.
QUARANTINE_STATES = {"open": "q.dismissed_at IS NULL", "dismissed": "q.dismissed_at IS NOT NULL", "all": ""}
# Rows for smshook.storage.rows.quarantine_view.
QUARANTINE_SELECT = (
    "SELECT q.id, q.connection, q.provider, q.reason, q.http_status, q.attempts, q.first_seen, "
    "q.last_seen, q.reprocessed_at, q.reprocess_result, r.method, r.path, r.query, r.headers, r.body, "
    "r.client, q.dismissed_at, q.dismissed_by, q.dismissed_reason "
    "FROM quarantine q JOIN raw_requests r ON r.id = q.raw_request_id"
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the shared queries need to know of an engine."""

    numbered: bool  # placeholders $1, $2, … (asyncpg) instead of ? (sqlite3)
    value: Callable[[Any], Any]  # a parameter as the engine compares it (PostgreSQL: no NUL characters)
    phone: str  # events whose sender or recipient is {0}
    position: str  # the live feed's position column
    greatest: str  # the larger of two values


def _same(value: Any) -> Any:
    return value


def numbered(sql: str) -> str:
    """SQL written with ``?`` placeholders, as PostgreSQL's ``$1, $2, …`` (for the statements written
    once for both engines outside the builders: data protection, the lifecycle; none has a ``?`` in a
    literal)."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))


def nul_free_text(value: Any) -> Any:
    """A query argument as PostgreSQL stores it: NUL characters (from a URL's %00) as U+FFFD."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


SQLITE = Dialect(numbered=False, value=_same, position="seq", greatest="max",
                 # through the sender and recipient indexes, whatever the rest
                 phone="seq IN (SELECT seq FROM events WHERE sender = {0} UNION ALL "
                       "SELECT seq FROM events WHERE recipient = {0})")
POSTGRES = Dialect(numbered=True, value=nul_free_text, position="feed_pos", greatest="greatest",
                   phone="(sender = {0} OR recipient = {0})")

_FORMATTER = string.Formatter()


class Where:
    """AND-ed conditions with their parameters, in the dialect's placeholder style."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, template: str, *values: Any) -> None:
        """``template`` with ``{}`` (or ``{0}``, ``{1}``: a value may stand twice) per value."""
        parts: list[str] = []
        auto = 0
        for literal, name, _, _ in _FORMATTER.parse(template):
            parts.append(literal)
            if name is not None:
                if name:
                    index = int(name)
                else:
                    index, auto = auto, auto + 1
                parts.append(self.mark(values[index]))
        self.clauses.append("".join(parts))

    def equal(self, column: str, value: Any) -> None:
        """``column = value`` when the value is given (a filter left out otherwise)."""
        if value is not None:
            self.add(f"{column} = {{}}", value)

    def among(self, column: str, values: Sequence[Any]) -> None:
        """``column`` is one of ``values`` (text)."""
        if self.dialect.numbered:
            self.add(f"{column} = ANY({{}}::text[])", list(values))
        else:
            self.add(f"{column} IN ({', '.join(['{}'] * len(values))})", *values)

    def mark(self, value: Any) -> str:
        self.args.append(self.dialect.value(value))
        return f"${len(self.args)}" if self.dialect.numbered else "?"

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""

    def conditions(self) -> str:
        return " AND ".join(self.clauses)


def events(dialect: Dialect, query: EventQuery) -> tuple[str, list[Any]]:
    """``Store.events``: public events matching ``query``, newest first."""
    where = Where(dialect)
    for column, value in (("connection", query.connection), ("type", query.type),
                          ("message_id", query.message_id), ("status", query.status)):
        where.equal(column, value)
    if query.since is not None:
        where.add("received_at >= {}", query.since)
    if query.until is not None:
        where.add("received_at < {}", query.until)
    if query.before is not None:
        where.add("id < {}", query.before)
    if query.phone is not None:
        where.add(dialect.phone, query.phone)
    sql = f"SELECT {EVENT_COLUMNS} FROM events{where.sql()} ORDER BY id DESC LIMIT {where.mark(query.limit)}"
    return sql, where.args


def message(dialect: Dialect, connection: str, message_id: str) -> tuple[tuple[str, list[Any]], tuple[str, list[Any]]]:
    """``Store.message``: its state row, then its events (``EVENT_COLUMNS`` + effect), oldest first."""
    state = Where(dialect)
    state.add("connection = {} AND message_id = {}", connection, message_id)
    timeline = Where(dialect)
    timeline.add("connection = {0} AND (message_id = {1} OR reply_to = {1})", connection, message_id)
    return ((f"SELECT status, occurred_at, conflict, updated_at FROM messages{state.sql()}", state.args),
            (f"SELECT {EVENT_COLUMNS}, effect FROM events{timeline.sql()} ORDER BY id", timeline.args))


def feed(dialect: Dialect, after: int, limit: int, connection: str | None,
         type: str | None) -> tuple[str, list[Any]]:
    """``Store.feed``: ``position`` then ``EVENT_COLUMNS``, in commit order."""
    where = Where(dialect)
    where.add(f"{dialect.position} > {{}}", after)
    where.equal("connection", connection)
    where.equal("type", type)
    sql = (f"SELECT {dialect.position}, {EVENT_COLUMNS} FROM events{where.sql()} "
           f"ORDER BY {dialect.position} LIMIT {where.mark(limit)}")
    return sql, where.args


def quarantined(dialect: Dialect, limit: int, before: str | None, connection: str | None, state: str,
                since: str | None, until: str | None) -> tuple[str, list[Any]]:
    """``Store.quarantined``: rows for :func:`smshook.storage.rows.quarantine_view`, newest first."""
    where = Where(dialect)
    if QUARANTINE_STATES[state]:
        where.add(QUARANTINE_STATES[state])
    if since is not None:
        where.add("q.first_seen >= {}", since)
    if until is not None:
        where.add("q.first_seen < {}", until)
    if before is not None:
        where.add("q.id < {}", before)
    where.equal("q.connection", connection)
    return _quarantine_rows(where, limit)


def quarantine_entry(dialect: Dialect, quarantine_id: str) -> tuple[str, list[Any]]:
    where = Where(dialect)
    where.add("q.id = {}", quarantine_id)
    return _quarantine_rows(where, 1)


def _quarantine_rows(where: Where, limit: int) -> tuple[str, list[Any]]:
    return f"{QUARANTINE_SELECT}{where.sql()} ORDER BY q.id DESC LIMIT {where.mark(limit)}", where.args


def rejected(dialect: Dialect, limit: int, before: str | None, connection: str | None, since: str | None,
             until: str | None) -> tuple[str, list[Any]]:
    """``Store.rejected``: rows for :func:`smshook.rejected.rejected_view` (first seen in ``[since,
    until)`` when given), newest first."""
    where = Where(dialect)
    if before is not None:
        where.add("id < {}", before)
    where.equal("connection", connection)
    if since is not None:
        where.add("first_seen >= {}", since)
    if until is not None:
        where.add("first_seen < {}", until)
    return (f"SELECT {REJECTED_COLUMNS} FROM rejected_requests{where.sql()} ORDER BY id DESC "
            f"LIMIT {where.mark(limit)}", where.args)


def subscriptions(dialect: Dialect, subscription_id: str | None = None) -> tuple[str, list[Any]]:
    """Every subscription by id, or the one with ``subscription_id``."""
    where = Where(dialect)
    where.equal("id", subscription_id)
    return f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions{where.sql()} ORDER BY id", where.args


def deliveries(dialect: Dialect, query: DeliveryQuery) -> tuple[str, list[Any]]:
    """``Store.deliveries``: rows for :func:`smshook.storage.rows.delivery_view`, newest first."""
    where = Where(dialect)
    for column, value in (("subscription_id", query.subscription_id), ("state", query.state),
                          ("event_id", query.event_id), ("connection", query.connection),
                          ("message_id", query.message_id)):
        where.equal(f"d.{column}", value)
    if query.before is not None:
        where.add("d.seq < {}", int(query.before))
    if query.since is not None:
        where.add("d.created_at >= {}", query.since)
    if query.until is not None:
        where.add("d.created_at < {}", query.until)
    sql = (f"SELECT {DELIVERY_COLUMNS} FROM deliveries d{where.sql()} "
           f"ORDER BY d.seq DESC LIMIT {where.mark(query.limit)}")
    return sql, where.args


def resolved(dialect: Dialect, quarantine_id: str, raw_request_id: str, at: str,
             result: AppendResult) -> list[tuple[str, list[Any]]]:
    """A re-processed quarantine entry: its raw request's counts and the entry's result, at ``at``."""
    raw, entry = Where(dialect), Where(dialect)
    outcome = orjson.dumps({"events": result.new_count, "duplicates": result.duplicates}).decode()
    return [(f"UPDATE raw_requests SET new_events = {raw.mark(result.new_count)}, duplicates = "
             f"{raw.mark(result.duplicates)} WHERE id = {raw.mark(raw_request_id)}", raw.args),
            (f"UPDATE quarantine SET reprocessed_at = {entry.mark(at)}, reprocess_result = {entry.mark(outcome)} "
             f"WHERE id = {entry.mark(quarantine_id)}", entry.args)]


def counter_updates(dialect: Dialect,
                    recorded: Iterable[tuple[str, Outcome]]) -> tuple[list[tuple[str, list[Any]]], bool]:
    """A batch of recorded attempts' (``(subscription id, outcome)``) effect on their subscriptions:
    one UPDATE per subscription and kind, in id order (the same order on every instance: no deadlock
    between their batches); and whether one of them disables a subscription (HTTP 410)."""
    counters = AttemptCounters()
    for subscription_id, outcome in recorded:
        counters.add(subscription_id, outcome)
    statements: list[tuple[str, list[Any]]] = []
    for sub_id, (successes, last_success) in sorted(counters.successes.items()):
        w = Where(dialect)
        statements.append((f"UPDATE subscriptions SET successes = successes + {w.mark(successes)}, last_success_at = "
                           f"{dialect.greatest}(coalesce(last_success_at, 0), {w.mark(last_success)}) "
                           f"WHERE id = {w.mark(sub_id)}", w.args))
    for sub_id, (failures, error, at) in sorted(counters.failures.items()):
        w = Where(dialect)
        statements.append((f"UPDATE subscriptions SET failures = failures + {w.mark(failures)}, last_error = "
                           f"{w.mark(error)}, last_error_at = {w.mark(at)} WHERE id = {w.mark(sub_id)}", w.args))
    for sub_id, (reason, at) in sorted(counters.disable.items()):
        w = Where(dialect)
        statements.append((f"UPDATE subscriptions SET enabled = {w.mark(False)}, disabled_reason = {w.mark(reason)}, "
                           f"updated_at = {w.mark(ts_stamp(at))} WHERE id = {w.mark(sub_id)}", w.args))
    return statements, bool(counters.disable)


def _replayed_events(where: Where, query: ReplayQuery) -> Where:
    if query.event_ids:
        where.among("ev.id", query.event_ids)
    where.equal("ev.connection", query.connection)
    where.equal("ev.message_id", query.message_id)
    if query.since is not None:
        where.add("ev.received_at >= {}", query.since)
    if query.until is not None:
        where.add("ev.received_at < {}", query.until)
    return where


def replay(dialect: Dialect, query: ReplayQuery, now: float) -> tuple[str, list[Any]]:
    """``Store.replay``'s UPDATE: the deliveries of the events in ``query`` pending again, now."""
    if not (query.event_ids or query.subscription_id or query.message_id):
        raise ValueError("replay needs event ids, a message or a subscription")
    where = Where(dialect)
    due = f"next_attempt_at = {where.mark(now)}, updated_at = {where.mark(now)}"
    _replayed_events(where, query)
    where.equal("d.subscription_id", query.subscription_id)
    if query.states:
        where.among("d.state", query.states)
    else:
        where.add("d.state != 'delivering'")
    sql = (f"UPDATE deliveries SET {REPLAY_SET}, {due} WHERE seq IN "
           f"(SELECT d.seq FROM deliveries d JOIN events ev ON ev.id = d.event_id{where.sql()})")
    return sql, where.args


def replay_backfill(dialect: Dialect, query: ReplayQuery, subscription_id: str) -> tuple[str, list[Any]]:
    """Events in ``query`` that this subscription never had (it came later): rows for
    :func:`smshook.storage.plan.backfill`."""
    where = _replayed_events(Where(dialect), query)
    sub = where.mark(subscription_id)
    sql = ("SELECT ev.id, ev.type, ev.connection, ev.message_id, ev.status, ev.keyword, ev.text "
           f"FROM events ev WHERE {where.conditions()} AND NOT EXISTS (SELECT 1 FROM deliveries d "
           f"WHERE d.subscription_id = {sub} AND d.event_id = ev.id) ORDER BY ev.seq")
    return sql, where.args
