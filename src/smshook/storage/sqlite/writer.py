"""The SQLite store's group-commit machinery: the jobs of one transaction (:class:`Batch`), the rows
appends plan into it and their multi-row INSERTs, the message states the planner reads, and the
cross-process writer lock. The writer thread that drives them is :class:`smshook.storage.sqlite.SQLiteStore`'s."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import itertools
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smshook.status import MessageState
from smshook.storage.queries import EVENT_COLUMNS

# Python's sqlite3 binds int, float, str and bytearray parameters directly; for anything else, None
# and bytes included, it first looks for an adapter, and when there is none it fails two attribute
# lookups, formatting (and dropping) an AttributeError message each time: that was half the cost of
# binding an events row (a dozen NULLs and a BLOB key). With an adapter registered it finds one with a
# dict lookup instead. Both return the value unchanged (an empty dict's get() answers None), so no
# stored value changes.
_EMPTY: dict[None, None] = {}
sqlite3.register_adapter(type(None), _EMPTY.get)
sqlite3.register_adapter(bytes, bytes)

INSERT_EVENT = (
    f"INSERT INTO events ({EVENT_COLUMNS}, key, raw_request_id, effect) "
    "VALUES (" + ", ".join("?" * 24) + ")"
)
INSERT_RAW = (
    "INSERT INTO raw_requests (id, connection, provider, method, path, query, headers, body, client, "
    "received_at, new_events, duplicates) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# first_seen is set once, on insert; sent_at (the provider's own submit time here) only fills a gap: a
# registration's sent_at (smshook.lifecycle) wins.
UPSERT_MESSAGE = (
    "INSERT INTO messages (connection, message_id, status, occurred_at, conflict, updated_at, synthetic, first_seen, "
    "sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (connection, message_id) DO UPDATE SET "
    "status = excluded.status, occurred_at = excluded.occurred_at, conflict = excluded.conflict, "
    "updated_at = excluded.updated_at, synthetic = excluded.synthetic, "
    "sent_at = coalesce(messages.sent_at, excluded.sent_at)"
)
KEY_CHUNK = 500

INSERT_DELIVERY = (
    "INSERT OR IGNORE INTO deliveries (id, subscription_id, event_id, connection, message_id, state, attempts, "
    "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)"
)

def insert_many(statement: str) -> Callable[[int], str]:
    """``statement`` (one ``VALUES (...)`` row) for n rows: one statement per chunk of rows, so one
    step (and one release of the GIL) instead of one per row."""
    head, tail = statement.split(" VALUES ", 1)
    row = tail[:tail.index(")") + 1]
    rest = tail[len(row):]

    @functools.lru_cache(maxsize=16)
    def sql(n: int) -> str:
        return f"{head} VALUES {', '.join([row] * n)}{rest}"

    return sql


INSERT_RAWS = insert_many(INSERT_RAW)
INSERT_EVENTS = insert_many(INSERT_EVENT)
UPSERT_MESSAGES = insert_many(UPSERT_MESSAGE)
INSERT_DELIVERIES = insert_many(INSERT_DELIVERY)
# Rows per statement: a few sizes (few distinct prepared statements), under SQLite's 32766 variables.
CHUNKS = (1024, 256, 64, 16, 4, 1)


def write_rows(conn: sqlite3.Connection, sql: Callable[[int], str], rows: Sequence[tuple[Any, ...]]) -> None:
    at = 0
    for size in CHUNKS:
        while len(rows) - at >= size:
            conn.execute(sql(size), list(itertools.chain.from_iterable(rows[at:at + size])))
            at += size


@dataclass(slots=True)
class Rows:
    """The events one job adds to its transaction: planned in Python, written by :meth:`Batch.flush`."""

    events: list[tuple[Any, ...]]
    deliveries: list[tuple[Any, ...]]
    changed: dict[tuple[str, str], MessageState]
    fresh: set[bytes]
    starts: dict[tuple[str, str], str] = field(default_factory=dict)  # provider submit times


class States(dict[tuple[str, str], MessageState | None]):
    """Current message states as the planner reads them: prefetched per batch; a message not prefetched
    (a re-processed quarantine entry's, or after a job was rolled back) is read when first asked for."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self.conn = conn

    def __missing__(self, key: tuple[str, str]) -> MessageState | None:
        row = self.conn.execute(
            "SELECT status, occurred_at, conflict, updated_at, synthetic FROM messages "
            "WHERE connection = ? AND message_id = ?", key).fetchone()
        state = MessageState(row[0], row[1], bool(row[2]), row[3], bool(row[4])) if row else None
        self[key] = state
        return state


@dataclass
class Batch:
    """State shared by the jobs of one transaction.

    Append jobs only plan their rows (:meth:`add`); the rows of the whole batch are written with one
    multi-row INSERT per table by :meth:`flush`, before any job that runs SQL itself and before COMMIT.
    """

    conn: sqlite3.Connection
    known: set[bytes]  # keys already stored (in the database or by an earlier job of this batch)
    states: States = field(init=False)
    raws: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    deliveries: list[tuple[Any, ...]] = field(default_factory=list)
    messages: dict[tuple[str, str], MessageState] = field(default_factory=dict)
    starts: dict[tuple[str, str], str] = field(default_factory=dict)
    last: Rows | None = None

    def __post_init__(self) -> None:
        self.states = States(self.conn)

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Load the current states of these messages with one query per connection (per 500)."""
        by_connection: dict[str, set[str]] = {}
        for connection, message_id in keys:
            if (connection, message_id) not in self.states:
                by_connection.setdefault(connection, set()).add(message_id)
        for connection, ids in by_connection.items():
            wanted = list(ids)
            for start in range(0, len(wanted), KEY_CHUNK):
                chunk = wanted[start:start + KEY_CHUNK]
                for message_id in chunk:
                    self.states[(connection, message_id)] = None
                for r in self.conn.execute(
                        "SELECT message_id, status, occurred_at, conflict, updated_at, synthetic FROM messages "
                        f"WHERE connection = ? AND message_id IN ({','.join('?' * len(chunk))})",
                        (connection, *chunk)):
                    self.states[(connection, r[0])] = MessageState(r[1], r[2], bool(r[3]), r[4], bool(r[5]))

    def add(self, rows: Rows) -> None:
        self.last = rows
        self.events += rows.events
        self.deliveries += rows.deliveries
        self.states.update(rows.changed)
        self.messages.update(rows.changed)
        self.starts.update(rows.starts)
        self.known |= rows.fresh

    def discard(self) -> None:
        """Forget what the last job planned or wrote: it was rolled back to its savepoint."""
        if self.last is not None:
            self.known -= self.last.fresh
            self.last = None
        self.states.clear()
        self.messages.clear()
        self.starts.clear()
        self.raws.clear()
        self.events.clear()
        self.deliveries.clear()

    def flush(self) -> None:
        conn = self.conn
        if self.raws:
            write_rows(conn, INSERT_RAWS, self.raws)
            self.raws.clear()
        if self.events:
            write_rows(conn, INSERT_EVENTS, self.events)
            self.events.clear()
        if self.messages:
            starts = self.starts
            write_rows(conn, UPSERT_MESSAGES, [
                (c, m, s.status, s.occurred_at, int(s.conflict), s.updated_at, int(s.synthetic), s.updated_at,
                 starts.get((c, m))) for (c, m), s in self.messages.items()
            ])
            self.messages.clear()
            starts.clear()
        if self.deliveries:
            write_rows(conn, INSERT_DELIVERIES, self.deliveries)
            self.deliveries.clear()


@dataclass
class Job:
    run: Callable[[Batch], Any]
    keys: tuple[bytes, ...]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    # An append: ``run`` only plans rows (no SQL); these are the messages whose state it reads.
    messages: tuple[tuple[str, str], ...] | None = None


class WriterLock:
    """Turns at writing for the processes that share one database file (``serve --workers N``, the CLI).

    SQLite lets one writer in at a time and makes the others poll, sleeping up to 100 ms between tries
    (its busy handler): with two processes committing back to back, one waited seconds for its turn
    (csoft load, 2 workers: p99 1.6 s; bench/README.md). Each batch takes a blocking ``flock`` on a lock
    file beside the database first, which the kernel hands to a waiting process the moment it is
    released; SQLite's own locks still guard the data. ``:memory:`` needs none.
    """

    def __init__(self, database: str) -> None:
        self.fd = None if database == ":memory:" else os.open(database + "-lock", os.O_CREAT | os.O_RDWR, 0o600)

    def __enter__(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # releases the GIL while it waits

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Retry(Exception):
    """Writing the planned rows of a batch failed: redo the batch job by job."""


STOP = object()

def resolve(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in items:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
