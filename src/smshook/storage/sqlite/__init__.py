"""The SQLite store: the embedded default.

What is written and read is decided by the backend-neutral layer (:mod:`smshook.storage.plan`,
:mod:`~smshook.storage.rows`, :mod:`~smshook.storage.queries`, :mod:`~smshook.storage.common`); this
package keeps what is SQLite's own: the group-commit writer thread (here) with its batches,
cross-process lock and multi-row INSERTs (:mod:`smshook.storage.sqlite.writer`), savepoints per job,
WAL checkpoints, reader connections.

Durability: WAL journal with ``synchronous=FULL``, so a commit returns only after the WAL is
fsync'd. Throughput: one writer thread owns the write connection and drains a queue of jobs; every
job that arrived while the previous commit was being fsync'd goes into the next transaction (group
commit). Appends only plan their rows in Python; the batch writes them with one multi-row INSERT per
table. Other jobs run their own SQL in a savepoint each; if writing the planned rows fails, the batch
is redone with a savepoint per job, so one bad job cannot fail its neighbours. Callers await a future
that the writer resolves only after COMMIT returned. WAL checkpoints run on a second connection, off
the commit path. Reads use separate connections in worker threads and never block the writer (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from smshook import stats
from smshook.errors import StoreError
from smshook.events import Event, stamp
from smshook.forwarding.model import (
    Claimed,
    Matcher,
    Outcome,
    ReplayQuery,
    Subscription,
)
from smshook.lifecycle import store as lifecycle_store
from smshook.rejected import KEEP as REJECTED_KEEP
from smshook.rejected import REJECTED_COLUMNS, RejectedRecord, rejected_row
from smshook.storage import queries, schema
from smshook.storage.common import CommonStore
from smshook.storage.contract import AppendResult, EventQuery, RawRecord
from smshook.storage.errors import driver_errors, map_exceptions
from smshook.storage.plan import backfill, fan_out, held_events, link_waits, plan_events, unresolvable
from smshook.storage.queries import EVENT_COLUMNS, SUBSCRIPTION_COLUMNS
from smshook.storage.rows import event_row as event_row  # re-exported (tests build rows with it)
from smshook.storage.rows import (
    message_view,
    public_event,
    quarantine_digest,
    subscription_from_row,
    subscription_row,
)
from smshook.storage.rows import raw_row as raw_row  # a module global: tests replace it
from smshook.storage.sqlite.writer import (
    INSERT_DELIVERY,
    INSERT_RAW,
    KEY_CHUNK,
    STOP,
    Batch,
    Job,
    Retry,
    Rows,
    WriterLock,
    resolve,
)
from smshook.storage.sqlite.writer import INSERT_EVENT as INSERT_EVENT  # re-exported (tests write rows)

T = TypeVar("T")
UPSERT_SUBSCRIPTION = queries.upsert_subscription(queries.SQLITE)


CHECKPOINT_INTERVAL = 0.2  # seconds between WAL checkpoints, made off the commit path (0: SQLite's own)
WAL_RESTART_PAGES = 4000  # the writer lets the WAL start over when it has grown past this (16 MB)
# Due deliveries of enabled subscriptions; for ordered ones, only the first unfinished one per message.
CLAIM = (
    "SELECT d.seq, d.id, d.subscription_id, d.event_id, d.attempts FROM deliveries d "
    "JOIN subscriptions s ON s.id = d.subscription_id AND s.enabled = 1 "
    "WHERE d.state IN ('pending', 'delivering') AND d.next_attempt_at <= ? "
    "AND (s.ordered = 0 OR d.message_id IS NULL OR NOT EXISTS ("
    "SELECT 1 FROM deliveries e WHERE e.subscription_id = d.subscription_id AND e.connection = d.connection "
    "AND e.message_id = d.message_id AND e.seq < d.seq AND e.state IN ('pending', 'delivering'))) "
    "ORDER BY d.next_attempt_at, d.seq LIMIT ?"
)


# Statistics (see smshook.stats): one row per sent message whose first event was received in
# [:lo, :hi) (fixed-width stamps, exact to the millisecond), with its bucket (from :start, unix seconds),
# outcome and time to delivery; a message with an earlier event (a lower seq, through the covering
# index) began before the window (seq follows received_at up to commit delays; an event re-processed
# from the quarantine later keeps its old received_at but gets a new seq, so its message may count in
# a later window). Unix seconds rounded to the millisecond: julianday()'s double is off by some
# microseconds either way, enough to put a message received exactly at a bucket's start in the bucket before.
_EPOCH = "round((julianday({0}) - 2440587.5) * 86400.0, 3)"
STATS = (
    "WITH per_message AS (SELECT connection, message_id, min(provider) AS provider, min(seq) AS first_seq, "
    f"min({_EPOCH.format('received_at')}) AS first_received, "
    f"min({_EPOCH.format('coalesce(occurred_at, received_at)')}) AS first_time, count(*) AS n, "
    "min(CASE WHEN status IN ('delivered', 'read') THEN "
    f"{_EPOCH.format('coalesce(occurred_at, received_at)')} END) AS delivered_time, "
    "max(CASE WHEN effect = 'applied' AND status IN ('undelivered', 'expired', 'rejected', 'failed') "
    "THEN seq END) AS final_seq, max(network) AS network "
    "FROM events INDEXED BY events_received WHERE received_at >= :lo AND type = 'status' "
    "AND message_id IS NOT NULL{by_connection} "
    "GROUP BY connection, message_id HAVING min(received_at) >= :lo AND min(received_at) < :hi), "
    "m AS MATERIALIZED (SELECT p.connection, p.provider, "
    "CAST((p.first_received - :start) / :bucket AS INTEGER) AS bucket, coalesce(s.status, 'pending') AS status, "
    "CASE WHEN s.status IN ('undelivered', 'expired', 'rejected', 'failed') THEN f.failure_class END "
    "AS failure_class, json_extract(p.network, '$.country') AS country, "
    "json_extract(p.network, '$.operator') AS operator, "
    # time to delivery from the best known start (smshook.lifecycle): the registration's or the provider's
    # sent_at, else the first event when there is more than one; a lone receipt has no start (NULL)
    "CASE WHEN s.status IN ('delivered', 'read') THEN max(p.delivered_time - coalesce("
    f"{_EPOCH.format('s.sent_at')}, CASE WHEN p.n > 1 THEN p.first_time END), 0) END AS ttd "
    "FROM per_message p LEFT JOIN messages s ON s.connection = p.connection AND s.message_id = p.message_id "
    "LEFT JOIN events f ON f.seq = p.final_seq "
    "WHERE NOT EXISTS (SELECT 1 FROM events o WHERE o.connection = p.connection AND o.message_id = p.message_id "
    "AND o.seq < p.first_seq)) "
    # counts per combination (ttd NULL), then one duration per delivered message (provider NULL)
    "SELECT connection, provider, bucket, status, failure_class, country, operator, count(*), NULL FROM m "
    "GROUP BY connection, provider, bucket, status, failure_class, country, operator "
    "UNION ALL SELECT connection, NULL, bucket, NULL, NULL, NULL, NULL, NULL, ttd FROM m WHERE ttd IS NOT NULL"
)


class SQLiteStore(CommonStore):
    def __init__(self, path: str | Path, *, batch_limit: int = 2048, auto_migrate: bool = True) -> None:
        self.path = str(path)
        self.auto_migrate = auto_migrate
        self.batch_limit = batch_limit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = True
        self._wal_pages = 0  # the WAL's size in pages, as the checkpointer last saw it
        # Subscriptions as the writer sees them (only the writer thread replaces these).
        self._subscriptions: dict[str, Subscription] = {}
        # The database's subscription version (PRAGMA user_version, bumped by every change to
        # subscriptions) the cache was loaded at: other processes (serve --workers N, the CLI) change
        # them too, so each transaction compares before using the cache.
        self._subscriptions_version = -1
        self._matchers: tuple[Matcher, ...] = ()

    # -- lifecycle --------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:" and not os.path.exists(self.path):
            # Phone numbers and texts: readable by the owner only (SQLite gives -wal and -shm the same mode).
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with map_exceptions(f"cannot open SQLite database {self.path}"):
            await asyncio.to_thread(self.migrate, self.auto_migrate)
            turn = WriterLock(self.path)
        self._closed = False
        self._thread = threading.Thread(target=self._writer, args=(turn,), name="smshook-sqlite-writer", daemon=True)
        self._thread.start()

    async def upgrade(self) -> list[str]:
        with map_exceptions(f"cannot migrate SQLite database {self.path}"):
            return await asyncio.to_thread(self.migrate)

    def migrate(self, apply: bool = True) -> list[str]:
        """Apply pending migrations (``apply=False``: refuse an outdated schema); returns the files applied."""
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and self.path != ":memory:":
                raise StoreError(f"cannot switch {self.path} to WAL journal (got {mode})")
            conn.execute("CREATE TABLE IF NOT EXISTS smshook_migrations "
                         "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {row[0] for row in conn.execute("SELECT version FROM smshook_migrations")}
            applied = []
            pending = schema.plan("sqlite", done)
            if pending and not apply:
                raise schema.outdated(pending)
            for migration in pending:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if migration.version in {row[0] for row in conn.execute("SELECT version FROM smshook_migrations")}:
                        conn.execute("ROLLBACK")  # another process applied it meanwhile
                        continue
                    for statement in migration.statements():
                        conn.execute(statement)
                    conn.execute("INSERT INTO smshook_migrations VALUES (?, datetime('now'))", (migration.version,))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                applied.append(migration.name)
            self._load_subscriptions(conn)
            return applied
        finally:
            conn.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # -- writes -----------------------------------------------------------------------------------
    async def _submit(self, run: Callable[[Batch], T], keys: tuple[bytes, ...] = (),
                      messages: tuple[tuple[str, str], ...] | None = None) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(Job(run, keys, future, loop, messages))
        return await future

    async def append(self, raw: RawRecord, events: list[Event]) -> AppendResult:
        def plan(batch: Batch) -> AppendResult:  # no SQL: the batch writes the rows (Batch.flush)
            result = self._store_events(batch, raw.id, raw.received_at, events)
            batch.raws.append(raw_row(raw, result.new_count, result.duplicates))
            return result

        messages = tuple({(e.connection, e.message_id) for e in events
                          if e.type == "status" and e.message_id and e.status})
        return await self._submit(plan, tuple([e.key for e in events]), messages)

    def _store_events(self, batch: Batch, raw_id: str, received_at: str, events: list[Event]) -> AppendResult:
        """Plan the new events of one request, their messages' states and their deliveries (written by
        the batch's next flush)."""
        plan = plan_events(events, raw_id, received_at, batch.known, batch.states)
        deliveries = []
        matchers = self._matchers
        if matchers and plan.rows:  # the transactional outbox: queued in the same transaction
            windows = self.link_windows
            stored = plan.stored
            waits = self._link_waits(batch.conn, stored, windows) if windows else {}
            deliveries = fan_out(stored, matchers, time.time(), waits)
        batch.add(Rows(plan.rows, deliveries, plan.changed, plan.fresh, plan.starts))
        return AppendResult(tuple(plan.new), len(deliveries))

    @staticmethod
    def _link_waits(conn: sqlite3.Connection, events: list[Event], windows: dict[str, float]) -> dict[str, float]:
        """Seconds to hold status events of messages not registered yet (``link_window``)."""
        held = held_events(events, windows)
        registered = {(e.connection, e.message_id or "") for e in held
                      if lifecycle_store.is_registered_sqlite(conn, e.connection, e.message_id or "")}
        return link_waits(held, registered, windows)

    async def resolve_quarantine(self, quarantine_id: str, events: list[Event], at: str) -> AppendResult:
        def run(batch: Batch) -> AppendResult | LookupError | ValueError:
            conn = batch.conn
            row = conn.execute("SELECT raw_request_id, reprocessed_at FROM quarantine WHERE id = ?",
                               (quarantine_id,)).fetchone()
            refused = unresolvable(quarantine_id, row)
            if refused is not None:
                return refused
            result = self._store_events(batch, row[0], at, events)
            for sql, args in queries.resolved(queries.SQLITE, quarantine_id, row[0], at, result):
                conn.execute(sql, args)
            return result

        outcome = await self._submit(run, tuple(e.key for e in events))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def quarantine(self, raw: RawRecord, reason: str, http_status: int) -> str:
        digest = quarantine_digest(raw)

        def run(batch: Batch) -> str:
            conn = batch.conn
            row = conn.execute("SELECT id FROM quarantine WHERE digest = ?", (digest,)).fetchone()
            if row:
                conn.execute("UPDATE quarantine SET attempts = attempts + 1, last_seen = ?, reason = ?, "
                             "http_status = ? WHERE id = ?", (raw.received_at, reason, http_status, row[0]))
                return str(row[0])
            conn.execute(INSERT_RAW, raw_row(raw, 0, 0))
            conn.execute(
                "INSERT INTO quarantine (id, digest, connection, provider, reason, http_status, attempts, "
                "first_seen, last_seen, raw_request_id) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
                (raw.id, digest, raw.connection, raw.provider, reason, http_status,
                 raw.received_at, raw.received_at, raw.id))
            return raw.id

        return await self._submit(run)

    async def record_rejected(self, entry: RejectedRecord) -> str:
        def run(batch: Batch) -> str:
            conn = batch.conn
            row = conn.execute("SELECT id FROM rejected_requests WHERE digest = ?", (entry.digest,)).fetchone()
            if row:
                conn.execute("UPDATE rejected_requests SET attempts = attempts + 1, last_seen = ?, reason = ?, "
                             "message = ? WHERE id = ?", (entry.received_at, entry.reason, entry.message, row[0]))
                return str(row[0])
            conn.execute(f"INSERT INTO rejected_requests ({REJECTED_COLUMNS}) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rejected_row(entry))
            conn.execute("DELETE FROM rejected_requests WHERE id < (SELECT id FROM rejected_requests "
                         "ORDER BY id DESC LIMIT 1 OFFSET ?)", (REJECTED_KEEP - 1,))
            return entry.id

        return await self._submit(run)

    def _writer(self, turn: WriterLock) -> None:
        conn = self._connect()
        checkpoints = threading.Event()
        checkpointer = None
        if CHECKPOINT_INTERVAL:
            # No commit pays for copying the WAL into the database file: a second connection does that
            # (PASSIVE: never blocks anyone). The WAL can only start over once all of it was copied,
            # which a checkpoint racing with commits never sees: when the WAL has grown past
            # WAL_RESTART_PAGES, the writer copies the last few frames itself, between two batches.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            checkpointer = threading.Thread(target=self._checkpointer, args=(checkpoints,),
                                            name="smshook-sqlite-checkpoint", daemon=True)
            checkpointer.start()
        try:
            stopping = False
            while not stopping:
                job = self._queue.get()
                if job is STOP:
                    break
                jobs: list[Job] = [job]
                with turn:  # what arrived while another process had its turn joins this batch
                    while len(jobs) < self.batch_limit:
                        try:
                            job = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if job is STOP:
                            stopping = True
                            break
                        jobs.append(job)
                    results = self._commit(conn, jobs)
                self._settle(jobs, results)
                if self._wal_pages > WAL_RESTART_PAGES:
                    self._wal_pages = 0
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            checkpoints.set()
            if checkpointer is not None:
                checkpointer.join()
            turn.close()
            conn.close()

    def _checkpointer(self, stop: threading.Event) -> None:
        """Every CHECKPOINT_INTERVAL seconds, copy the WAL's committed frames into the database file."""
        conn = self._connect()
        try:
            while not stop.wait(CHECKPOINT_INTERVAL):
                with contextlib.suppress(sqlite3.Error):
                    _, pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self._wal_pages = pages
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, jobs: list[Job]) -> list[tuple[Any, BaseException | None]]:
        started = time.perf_counter()
        failed: tuple[type[BaseException], ...] = (*driver_errors(), Retry)
        try:
            try:
                results = self._transaction(conn, jobs, safe=False)
            except Retry:  # writing the batch's rows failed: redo it job by job, to fail only the culprit
                conn.execute("ROLLBACK")
                results = self._transaction(conn, jobs, safe=True)
        except failed as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            error = StoreError(f"commit failed: {exc}")
            return [(None, error) for _ in jobs]
        self._committed(len(jobs), time.perf_counter() - started)
        return results

    def _transaction(self, conn: sqlite3.Connection, jobs: list[Job], *,
                     safe: bool) -> list[tuple[Any, BaseException | None]]:
        """One transaction for a batch of jobs. Appends only plan their rows, written together by
        ``batch.flush()`` (before any other job and before COMMIT); the other jobs run their own SQL,
        each in a savepoint, so one bad job cannot fail its neighbours. ``safe``: appends too get a
        savepoint and a flush each, so that rows which cannot be written fail only their own job."""
        results: list[tuple[Any, BaseException | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("PRAGMA user_version").fetchone()[0] != self._subscriptions_version:
            self._load_subscriptions(conn)  # another process changed the subscriptions
        batch = Batch(conn, self._known_keys(conn, (k for job in jobs for k in job.keys)))
        batch.prefetch(m for job in jobs if job.messages for m in job.messages)
        for job in jobs:
            if job.messages is not None and not safe:
                batch.last = None
                try:
                    results.append((job.run(batch), None))
                except Exception as exc:
                    if batch.last is not None:  # it failed after adding rows: only safe mode can undo that
                        raise Retry from exc
                    results.append((None, StoreError(f"could not store: {exc}")))
                continue
            try:
                batch.flush()
            except Exception as exc:
                raise Retry from exc
            batch.last = None
            conn.execute("SAVEPOINT job")
            try:
                value = job.run(batch)
                batch.flush()
                conn.execute("RELEASE job")
                results.append((value, None))
            except Exception as exc:  # one bad job must not fail its neighbours
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                batch.discard()
                results.append((None, StoreError(f"could not store: {exc}")))
        try:
            batch.flush()
        except Exception as exc:
            raise Retry from exc
        conn.execute("COMMIT")
        return results

    @staticmethod
    def _known_keys(conn: sqlite3.Connection, keys: Iterable[bytes]) -> set[bytes]:
        wanted = list(set(keys))
        known: set[bytes] = set()
        for start in range(0, len(wanted), KEY_CHUNK):
            chunk = wanted[start:start + KEY_CHUNK]
            marks = ",".join("?" * len(chunk))
            known.update(r[0] for r in conn.execute(f"SELECT key FROM events WHERE key IN ({marks})", chunk))
        return known

    @staticmethod
    def _settle(jobs: list[Job], results: list[tuple[Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for job, (value, error) in zip(jobs, results, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, value, error))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(resolve, items)

    # -- reads ------------------------------------------------------------------------------------
    dialect = queries.SQLITE

    async def _read_rows(self, statements: Sequence[tuple[str, list[Any]]]) -> list[list[Sequence[Any]]]:
        return await self._read(lambda c: [c.execute(sql, args).fetchall() for sql, args in statements])

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("store is closed")

        def run() -> T:
            with map_exceptions("read failed"):
                return fn(self._reader())

        return await asyncio.to_thread(run)

    async def ping(self) -> bool:
        try:
            return await self._read(lambda c: c.execute("SELECT 1").fetchone()[0] == 1)
        except StoreError:
            return False

    async def events(self, query: EventQuery) -> list[dict[str, Any]]:
        sql, args = queries.events(queries.SQLITE, query)
        return await self._read(
            lambda c: lifecycle_store.enrich_sqlite(c, [public_event(r) for r in c.execute(sql, args)]))

    async def message(self, connection: str, message_id: str) -> dict[str, Any] | None:
        (state_sql, state_args), (events_sql, events_args) = queries.message(queries.SQLITE, connection, message_id)

        def run(c: sqlite3.Connection) -> dict[str, Any] | None:
            state = c.execute(state_sql, state_args).fetchone()
            view = message_view(connection, message_id, state, c.execute(events_sql, events_args).fetchall())
            if view is not None:
                lifecycle_store.enrich_sqlite(c, view["events"])
            return view

        return await self._read(run)

    async def feed_position(self) -> int:
        return await self._read(lambda c: int(c.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]))

    async def feed(self, after: int, limit: int = 500, connection: str | None = None,
                   type: str | None = None) -> list[tuple[int, dict[str, Any]]]:
        sql, args = queries.feed(queries.SQLITE, after, limit, connection, type)

        def run(c: sqlite3.Connection) -> list[tuple[int, dict[str, Any]]]:
            found = [(int(r[0]), public_event(r[1:])) for r in c.execute(sql, args)]
            lifecycle_store.enrich_sqlite(c, [e for _, e in found])
            return found

        return await self._read(run)

    async def stats(self, since: str, until: str, bucket_seconds: int,
                    connection: str | None = None) -> dict[str, Any]:
        start = stats.epoch(since)
        args: dict[str, Any] = {"lo": stats.exact(since), "hi": stats.exact(until), "start": start,
                                "bucket": bucket_seconds, "connection": connection}
        by_connection = "" if connection is None else " AND connection = :connection"

        def run(c: sqlite3.Connection) -> dict[str, Any]:
            c.execute("BEGIN")  # one snapshot for both queries
            try:
                rows = c.execute(STATS.format(by_connection=by_connection), args).fetchall()
                inbound = c.execute(
                    "SELECT connection, count(*) FROM events INDEXED BY events_received WHERE received_at >= :lo "
                    f"AND received_at < :hi AND type = 'inbound'{by_connection} GROUP BY connection", args).fetchall()
            finally:
                c.execute("COMMIT")
            counts = [r[:8] for r in rows if r[1] is not None]
            durations = [(r[0], r[2], r[8]) for r in rows if r[1] is None]
            return stats.assemble(since, until, bucket_seconds, counts, durations, inbound)

        return await self._read(run)

    # -- forwarding -------------------------------------------------------------------------------
    def _load_subscriptions(self, conn: sqlite3.Connection) -> None:
        """Refresh the writer's subscription cache (the append hot path matches against it)."""
        subs = [subscription_from_row(r) for r in conn.execute(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY id")]
        self._subscriptions = {s.id: s for s in subs}
        self._matchers = tuple(Matcher(s) for s in subs if s.enabled)
        self._subscriptions_version = conn.execute("PRAGMA user_version").fetchone()[0]

    def _subscriptions_changed(self, conn: sqlite3.Connection) -> None:
        """Bump the subscription version (in the current transaction) and refresh the cache."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA user_version = {int(version) + 1}")
        self._load_subscriptions(conn)

    async def _submit_subscriptions(self, run: Callable[[Batch], T]) -> T:
        """A write that changes subscriptions; the cache is refreshed inside the same transaction."""

        def wrapped(batch: Batch) -> T:
            value = run(batch)
            self._subscriptions_changed(batch.conn)
            return value

        try:
            return await self._submit(wrapped)
        except StoreError:
            with contextlib.suppress(StoreError):  # the transaction failed: reload what is committed
                await self._submit(lambda b: self._load_subscriptions(b.conn))
            raise

    async def put_subscription(self, subscription: Subscription) -> Subscription:
        values = subscription_row(subscription, stamp(datetime.now(UTC)))

        def run(batch: Batch) -> Subscription:
            return subscription_from_row(batch.conn.execute(UPSERT_SUBSCRIPTION, values).fetchone())

        return await self._submit_subscriptions(run)

    async def delete_subscription(self, subscription_id: str) -> bool:
        def run(batch: Batch) -> bool:
            found = batch.conn.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,)).rowcount > 0
            batch.conn.execute("DELETE FROM deliveries WHERE subscription_id = ? AND state IN ('pending', "
                               "'delivering')", (subscription_id,))
            return found

        return await self._submit_subscriptions(run)

    async def next_due(self) -> float | None:
        def run(c: sqlite3.Connection) -> float | None:
            row = c.execute("SELECT min(d.next_attempt_at) FROM deliveries d JOIN subscriptions s "
                            "ON s.id = d.subscription_id AND s.enabled = 1 "
                            "WHERE d.state IN ('pending', 'delivering')").fetchone()
            return float(row[0]) if row and row[0] is not None else None

        return await self._read(run)

    async def claim_deliveries(self, owner: str, now: float, lease: float, limit: int,
                               skip: Collection[str] = ()) -> list[Claimed]:
        skipped = tuple(skip)
        sql = CLAIM if not skipped else CLAIM.replace(
            " ORDER BY", f" AND d.subscription_id NOT IN ({','.join('?' * len(skipped))}) ORDER BY")

        def run(batch: Batch) -> list[Claimed]:
            conn = batch.conn
            rows = conn.execute(sql, (now, *skipped, limit)).fetchall()
            if not rows:
                return []
            marks = ",".join("?" * len(rows))
            conn.execute(f"UPDATE deliveries SET state = 'delivering', lease_owner = ?, next_attempt_at = ?, "
                         f"updated_at = ? WHERE seq IN ({marks})", (owner, now + lease, now, *(r[0] for r in rows)))
            event_ids = list({r[3] for r in rows})
            events = {
                r[0]: public_event(r) for r in conn.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({','.join('?' * len(event_ids))})", event_ids)
            }
            lifecycle_store.enrich_sqlite(conn, list(events.values()))
            return [Claimed(r[1], self._subscriptions[r[2]], events[r[3]], r[4], owner)
                    for r in rows if r[2] in self._subscriptions and r[3] in events]

        return await self._submit(run)

    async def record_attempts(self, owner: str, outcomes: Sequence[tuple[str, Outcome]]) -> list[bool]:
        def run(batch: Batch) -> list[bool]:
            conn = batch.conn
            recorded: list[bool] = []
            counted: list[tuple[str, Outcome]] = []
            for delivery_id, outcome in outcomes:
                if outcome.state == "delivered":
                    row = conn.execute(
                        "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, "
                        "updated_at = ?, lease_owner = NULL, last_status = ?, last_error = NULL WHERE id = ? "
                        "RETURNING subscription_id",
                        (outcome.at, outcome.at, outcome.http_status, delivery_id)).fetchone()
                elif not outcome.attempted:  # the lease handed back, no attempt made
                    row = conn.execute(
                        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL, "
                        "updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'delivering' "
                        "RETURNING subscription_id",
                        (outcome.next_attempt_at or outcome.at, outcome.at, delivery_id, owner)).fetchone()
                else:
                    row = conn.execute(
                        "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?, "
                        "last_error = ?, last_status = ?, lease_owner = NULL, updated_at = ? "
                        "WHERE id = ? AND lease_owner = ? AND state = 'delivering' RETURNING subscription_id",
                        (outcome.state, outcome.next_attempt_at or outcome.at, outcome.error, outcome.http_status,
                         outcome.at, delivery_id, owner)).fetchone()
                recorded.append(row is not None)
                if row is not None:
                    counted.append((row[0], outcome))
            statements, disabled = queries.counter_updates(queries.SQLITE, counted)
            for sql, args in statements:
                conn.execute(sql, args)
            if disabled:
                self._subscriptions_changed(conn)
            return recorded

        return await self._submit(run)

    async def replay(self, query: ReplayQuery, now: float) -> int:
        sql, args = queries.replay(queries.SQLITE, query, now)

        def run(batch: Batch) -> int:
            conn = batch.conn
            count: int = conn.execute(sql, args).rowcount
            sub = self._subscriptions.get(query.subscription_id or "")
            if sub is not None and (query.since or query.until or query.event_ids or query.message_id):
                # Events in range that this subscription never had (it came later): queue them now.
                fresh = backfill(conn.execute(*queries.replay_backfill(queries.SQLITE, query, sub.id)), sub, now)
                conn.executemany(INSERT_DELIVERY, fresh)
                count += len(fresh)
            return count

        return await self._submit(run)
