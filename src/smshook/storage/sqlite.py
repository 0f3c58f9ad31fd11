"""The SQLite store: the embedded default.

Durability: WAL journal with ``synchronous=FULL``, so a commit returns only after the WAL is
fsync'd. Throughput: one writer thread owns the write connection and drains a queue of jobs; every
job that arrived while the previous commit was being fsync'd goes into the next transaction (group
commit), each in its own savepoint so one bad job cannot fail its neighbours. Callers await a future
that the writer resolves only after COMMIT returned. Reads use separate connections in worker
threads and never block the writer (WAL).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import orjson

from smshook.errors import StoreError
from smshook.events import PUBLIC_FIELDS, Event, iso
from smshook.status import FINAL, MessageState, advance
from smshook.storage.base import AppendResult, EventQuery, RawRecord, Store

T = TypeVar("T")

EVENT_COLUMNS = (
    "id, type, connection, provider, message_id, status, provider_status, failure_class, channel, "
    "sender, recipient, text, keyword, reply_to, reference, occurred_at, received_at, price, currency, "
    "network, details"
)
INSERT_EVENT = (
    f"INSERT INTO events ({EVENT_COLUMNS}, key, raw_request_id, effect) "
    "VALUES (" + ", ".join("?" * 24) + ")"
)
INSERT_RAW = (
    "INSERT INTO raw_requests (id, connection, provider, method, path, query, headers, body, client, "
    "received_at, new_events, duplicates) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_MESSAGE = (
    "INSERT INTO messages (connection, message_id, status, occurred_at, conflict, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (connection, message_id) DO UPDATE SET "
    "status = excluded.status, occurred_at = excluded.occurred_at, conflict = excluded.conflict, "
    "updated_at = excluded.updated_at"
)
KEY_CHUNK = 500


def migrations(dialect: str) -> list[tuple[int, str]]:
    """(version, SQL) pairs shipped with the package, in order."""
    folder = resources.files("smshook.storage") / "migrations" / dialect
    found = [
        (int(item.name.split("_", 1)[0]), item.read_text("utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".sql")
    ]
    return sorted(found)


def event_row(event: Event, raw_id: str, effect: str | None) -> tuple[Any, ...]:
    return (
        event.id, event.type, event.connection, event.provider, event.message_id, event.status,
        event.provider_status, event.failure_class, event.channel, event.from_, event.to, event.text,
        event.keyword, event.reply_to, event.reference, iso(event.occurred_at), iso(event.received_at),
        event.price, event.currency,
        orjson.dumps(event.network).decode() if event.network is not None else None,
        orjson.dumps(event.details).decode(),
        event.key, raw_id, effect,
    )


def public_event(row: Sequence[Any]) -> dict[str, Any]:
    data = dict(zip(PUBLIC_FIELDS, row, strict=False))
    data["network"] = orjson.loads(data["network"]) if data["network"] else None
    data["details"] = orjson.loads(data["details"])
    return data


def request_view(method: str, path: str, query: str, headers: str, body: bytes, client: str | None) -> dict[str, Any]:
    """A raw request for the API: the body as text when it is UTF-8, else base64."""
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    return {"method": method, "path": path, "query": query, "headers": orjson.loads(headers),
            "body": text, "body_encoding": encoding, "client": client}


def raw_row(raw: RawRecord, new: int, duplicates: int) -> tuple[Any, ...]:
    return (raw.id, raw.connection, raw.provider, raw.method, raw.path, raw.query,
            orjson.dumps(raw.headers).decode(), raw.body, raw.client, raw.received_at, new, duplicates)


def quarantine_digest(raw: RawRecord) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in (raw.connection, raw.method, raw.query):
        h.update(part.encode() + b"\x1f")
    h.update(raw.body)
    return h.digest()


@dataclass
class _Batch:
    """State shared by the jobs of one transaction."""

    conn: sqlite3.Connection
    known: set[bytes]  # keys already stored (in the database or by an earlier job of this batch)
    states: dict[tuple[str, str], MessageState | None] = field(default_factory=dict)

    def state(self, connection: str, message_id: str) -> MessageState | None:
        key = (connection, message_id)
        if key not in self.states:
            row = self.conn.execute(
                "SELECT status, occurred_at, conflict, updated_at FROM messages "
                "WHERE connection = ? AND message_id = ?", key).fetchone()
            self.states[key] = MessageState(row[0], row[1], bool(row[2]), row[3]) if row else None
        return self.states[key]


@dataclass
class _Job:
    run: Callable[[_Batch], Any]
    keys: tuple[bytes, ...]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_STOP = object()


class SQLiteStore(Store):
    def __init__(self, path: str | Path, *, batch_limit: int = 2048) -> None:
        self.path = str(path)
        self.batch_limit = batch_limit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = True
        # Observability: how many jobs each commit carried, and how long commits take.
        self.commits = 0
        self.committed_jobs = 0

    # -- lifecycle --------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            await asyncio.to_thread(self.migrate)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._closed = False
        self._thread = threading.Thread(target=self._writer, name="smshook-sqlite-writer", daemon=True)
        self._thread.start()

    def migrate(self) -> list[int]:
        """Apply pending migrations; returns the versions applied."""
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and self.path != ":memory:":
                raise StoreError(f"cannot switch {self.path} to WAL journal (got {mode})")
            conn.execute("CREATE TABLE IF NOT EXISTS smshook_migrations "
                         "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {row[0] for row in conn.execute("SELECT version FROM smshook_migrations")}
            applied = []
            for version, sql in migrations("sqlite"):
                if version in done:
                    continue
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute("INSERT INTO smshook_migrations VALUES (?, datetime('now'))", (version,))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                applied.append(version)
            return applied
        finally:
            conn.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # -- writes -----------------------------------------------------------------------------------
    async def _submit(self, run: Callable[[_Batch], T], keys: tuple[bytes, ...] = ()) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(run, keys, future, loop))
        return await future

    async def append(self, raw: RawRecord, events: list[Event]) -> AppendResult:
        def run(batch: _Batch) -> AppendResult:
            flags: list[bool] = []
            rows = []
            changed: dict[tuple[str, str], MessageState] = {}
            fresh: set[bytes] = set()
            for event in events:
                if event.key in batch.known or event.key in fresh:
                    flags.append(False)
                    continue
                fresh.add(event.key)
                flags.append(True)
                effect = None
                if event.type == "status" and event.message_id and event.status:
                    key = (event.connection, event.message_id)
                    current = batch.state(*key)
                    state, effect = advance(current, event.status, iso(event.occurred_at), raw.received_at)
                    if state is not current:
                        batch.states[key] = changed[key] = state
                rows.append(event_row(event, raw.id, effect))
            conn = batch.conn
            conn.execute(INSERT_RAW, raw_row(raw, len(rows), len(events) - len(rows)))
            conn.executemany(INSERT_EVENT, rows)
            conn.executemany(UPSERT_MESSAGE, [
                (c, m, s.status, s.occurred_at, int(s.conflict), s.updated_at) for (c, m), s in changed.items()
            ])
            batch.known |= fresh
            return AppendResult(tuple(flags))

        return await self._submit(run, tuple(e.key for e in events))

    async def quarantine(self, raw: RawRecord, reason: str, http_status: int) -> str:
        digest = quarantine_digest(raw)

        def run(batch: _Batch) -> str:
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

    def _writer(self) -> None:
        conn = self._connect()
        try:
            stopping = False
            while not stopping:
                job = self._queue.get()
                if job is _STOP:
                    break
                jobs: list[_Job] = [job]
                while len(jobs) < self.batch_limit:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is _STOP:
                        stopping = True
                        break
                    jobs.append(job)
                self._settle(jobs, self._commit(conn, jobs))
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, jobs: list[_Job]) -> list[tuple[Any, BaseException | None]]:
        results: list[tuple[Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            batch = _Batch(conn, self._known_keys(conn, (k for job in jobs for k in job.keys)))
            for job in jobs:
                conn.execute("SAVEPOINT job")
                try:
                    results.append((job.run(batch), None))
                    conn.execute("RELEASE job")
                except Exception as exc:  # one bad job must not fail its neighbours
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    batch.states.clear()
                    results.append((None, StoreError(f"could not store: {exc}")))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            error = StoreError(f"commit failed: {exc}")
            return [(None, error) for _ in jobs]
        self.commits += 1
        self.committed_jobs += len(jobs)
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
    def _settle(jobs: list[_Job], results: list[tuple[Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for job, (value, error) in zip(jobs, results, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, value, error))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_resolve, items)

    # -- reads ------------------------------------------------------------------------------------
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
            try:
                return fn(self._reader())
            except sqlite3.Error as exc:
                raise StoreError(f"read failed: {exc}") from exc

        return await asyncio.to_thread(run)

    async def ping(self) -> bool:
        try:
            return await self._read(lambda c: c.execute("SELECT 1").fetchone()[0] == 1)
        except StoreError:
            return False

    async def events(self, query: EventQuery) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("connection", query.connection), ("type", query.type),
                              ("message_id", query.message_id), ("status", query.status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.since is not None:
            where.append("received_at >= ?")
            args.append(query.since)
        if query.before is not None:
            where.append("id < ?")
            args.append(query.before)
        sql = f"SELECT {EVENT_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(query.limit)
        return await self._read(lambda c: [public_event(r) for r in c.execute(sql, args)])

    async def message(self, connection: str, message_id: str) -> dict[str, Any] | None:
        def run(c: sqlite3.Connection) -> dict[str, Any] | None:
            state = c.execute("SELECT status, occurred_at, conflict, updated_at FROM messages "
                              "WHERE connection = ? AND message_id = ?", (connection, message_id)).fetchone()
            rows = c.execute(
                f"SELECT {EVENT_COLUMNS}, effect FROM events WHERE connection = ? "
                "AND (message_id = ? OR reply_to = ?) ORDER BY id", (connection, message_id, message_id)).fetchall()
            if state is None and not rows:
                return None
            return {
                "connection": connection,
                "message_id": message_id,
                "status": state[0] if state else None,
                "final": bool(state and state[0] in FINAL),
                "conflict": bool(state and state[2]),
                "updated_at": state[3] if state else None,
                "events": [public_event(r) for r in rows],
                "effects": {r[0]: r[-1] for r in rows if r[-1] is not None},
            }

        return await self._read(run)

    async def quarantined(self, limit: int = 50, before: str | None = None,
                          connection: str | None = None) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[Any] = []
        if before is not None:
            where.append("q.id < ?")
            args.append(before)
        if connection is not None:
            where.append("q.connection = ?")
            args.append(connection)
        sql = ("SELECT q.id, q.connection, q.provider, q.reason, q.http_status, q.attempts, q.first_seen, "
               "q.last_seen, q.reprocessed_at, r.method, r.path, r.query, r.headers, r.body, r.client "
               "FROM quarantine q JOIN raw_requests r ON r.id = q.raw_request_id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY q.id DESC LIMIT ?"
        args.append(limit)

        def run(c: sqlite3.Connection) -> list[dict[str, Any]]:
            out = []
            for r in c.execute(sql, args):
                out.append({
                    "id": r[0], "connection": r[1], "provider": r[2], "reason": r[3], "http_status": r[4],
                    "attempts": r[5], "first_seen": r[6], "last_seen": r[7], "reprocessed_at": r[8],
                    "request": request_view(*r[9:15]),
                })
            return out

        return await self._read(run)


def _resolve(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in items:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (no semicolons inside our DDL literals)."""
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]
