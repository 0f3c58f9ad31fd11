"""The PostgreSQL store: several smshook instances sharing one database.

What is written and read is decided by the backend-neutral layer (:mod:`smshook.storage.plan`,
:mod:`~smshook.storage.rows`, :mod:`~smshook.storage.queries`, :mod:`~smshook.storage.common`); this
package keeps what is PostgreSQL's own: the pool, the writer task, advisory locks
(:mod:`smshook.storage.locks`), and its statements (:mod:`smshook.storage.postgres.sql`: ``unnest``
inserts, feed numbering, ``SKIP LOCKED`` claims, statistics).

Durability: a call returns after PostgreSQL's COMMIT, which flushes the WAL (this store never turns
``synchronous_commit`` off). Throughput, as in the SQLite store: one writer task per instance drains
a queue of append/quarantine jobs into one transaction (group commit); callers are answered only
after COMMIT. A batch of appends is written with a handful of statements (all its events in one
multi-row insert). When a job fails the shared transaction, the batch runs again with each job in
its own savepoint, so one bad job cannot fail its neighbours.

Many instances on one database:

* dedup: ``INSERT … ON CONFLICT (key) DO NOTHING RETURNING``. The unique index on the idempotency
  key is the arbiter: a concurrent insert of the same key waits for the other transaction and then
  reports a duplicate, which the hook path answers as a success.
* status projection: transaction-scoped advisory locks on the (connection, message_id) of every status
  event in a batch, taken first and in one global order (no deadlocks between instances), serialise
  the read → :func:`smshook.status.advance` → write of a message across instances.
* outbox: delivery rows are inserted in the events' transaction; the subscriptions are read inside
  every batch's transaction, so one added on another instance applies at once.
* dispatch: :meth:`PostgresStore.claim_deliveries` is ``SELECT … FOR UPDATE SKIP LOCKED`` plus a
  lease, so a delivery is attempted by one instance at a time and an instance that dies mid-flight
  leaves its work to the others once the lease runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from smshook import stats
from smshook.errors import StoreError
from smshook.events import Event, stamp
from smshook.forwarding.model import Claimed, Matcher, Outcome, ReplayQuery, Subscription
from smshook.lifecycle import store as lifecycle_store
from smshook.rejected import KEEP as REJECTED_KEEP
from smshook.rejected import REJECTED_COLUMNS, RejectedRecord, rejected_row
from smshook.status import MessageState
from smshook.storage import queries, schema
from smshook.storage.common import CommonStore
from smshook.storage.contract import AppendResult, EventQuery, RawRecord
from smshook.storage.errors import map_exceptions
from smshook.storage.locks import LOCK_BASE, LOCK_STRIPES, MIGRATION_LOCK, message_stripe
from smshook.storage.plan import (
    Planned,
    backfill,
    fan_out,
    held_events,
    link_waits,
    plan_events,
    status_messages,
    unresolvable,
)
from smshook.storage.postgres.sql import (
    CLAIM,
    FEED_NUMBER,
    INSERT_DELIVERY,
    INSERT_EVENTS,
    INSERT_RAW,
    STATS_COUNTS,
    STATS_MEDIANS,
    STATS_MESSAGES,
    STATS_P90,
    UPSERT_MESSAGE,
    named,
)
from smshook.storage.postgres.sql import INSERT_EVENT as INSERT_EVENT  # re-exported (tests write rows)
from smshook.storage.queries import EVENT_COLUMNS, SUBSCRIPTION_COLUMNS, nul_free_text
from smshook.storage.rows import (
    message_view,
    public_event,
    quarantine_digest,
    raw_row,
    subscription_from_row,
    subscription_row,
)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = PoolConnectionProxy[asyncpg.Record]

T = TypeVar("T")
UPSERT_SUBSCRIPTION = queries.upsert_subscription(queries.POSTGRES)


@dataclass
class _Batch:
    """State shared by the jobs of one transaction."""

    conn: Conn
    known: set[bytes]  # keys already stored (in the database or by an earlier job of this batch)
    matchers: tuple[Matcher, ...]
    states: dict[tuple[str, str], MessageState | None] = field(default_factory=dict)
    new_seqs: list[int] = field(default_factory=list)  # events inserted, numbered for the feed at COMMIT
    link_windows: dict[str, float] = field(default_factory=dict)  # smshook.lifecycle: see Store.link_windows
    starts: dict[tuple[str, str], str] = field(default_factory=dict)  # provider submit times of messages
    planned: list[Planned] = field(default_factory=list)  # the plans taken, to forget a failed job's keys

    def start_of(self, key: tuple[str, str]) -> str | None:
        return self.starts.get(key)

    async def link_waits(self, events: list[Event]) -> dict[str, float]:
        """Per event id: seconds to hold its deliveries (a status of a message not registered yet)."""
        held = held_events(events, self.link_windows)
        if not held:
            return {}
        known = await lifecycle_store.registered_postgres(self.conn, [(e.connection, e.message_id or "")
                                                                      for e in held])
        return link_waits(held, known, self.link_windows)

    async def prefetch(self, messages: Collection[tuple[str, str]]) -> None:
        """Read the states of the messages not read yet, in one query (their stripes are locked by this
        transaction: see :func:`message_stripe`)."""
        wanted = [m for m in messages if m not in self.states]
        if not wanted:
            return
        self.states.update(dict.fromkeys(wanted))
        rows = await self.conn.fetch(
            "SELECT m.connection, m.message_id, m.status, m.occurred_at, m.conflict, m.updated_at, m.synthetic "
            "FROM messages m "
            "JOIN unnest($1::text[], $2::text[]) AS k(c, i) ON m.connection = k.c AND m.message_id = k.i",
            [c for c, _ in wanted], [i for _, i in wanted])
        for r in rows:
            self.states[(r[0], r[1])] = MessageState(r[2], r[3], r[4], r[5], bool(r[6]))

    def plan(self, events: list[Event], raw_id: str, received_at: str) -> Planned:
        """Plan one request on top of the batch's earlier ones (their keys and states count)."""
        plan = plan_events(events, raw_id, received_at, self.known, self.states)
        self.known |= plan.fresh
        self.states.update(plan.changed)
        self.planned.append(plan)
        self.starts.update(plan.starts)
        return plan


@dataclass
class _Job:
    run: Callable[[_Batch], Awaitable[Any]]
    keys: tuple[bytes, ...]
    messages: tuple[tuple[str, str], ...]  # (connection, message_id) of its status events
    future: asyncio.Future[Any]
    append: tuple[RawRecord, list[Event]] | None = None  # an append: may be stored in bulk with others


_STOP = object()


TEXT_FIELDS = ("message_id", "status", "provider_status", "channel", "from_", "to", "text", "keyword", "reply_to",
               "reference", "price", "currency")


def nul_free(event: Event) -> Event:
    """PostgreSQL text cannot hold NUL characters (SQLite's can): they become U+FFFD, so that such a
    callback is stored rather than refused for ever (the raw request keeps the exact bytes)."""
    changes: dict[str, Any] = {name: value.replace("\x00", "\ufffd") for name in TEXT_FIELDS
                               if isinstance(value := getattr(event, name), str) and "\x00" in value}
    return replace(event, **changes) if changes else event


def nul_free_raw(raw: RawRecord) -> RawRecord:
    changes: dict[str, Any] = {name: value.replace("\x00", "\ufffd") for name in ("path", "query", "client")
                               if isinstance(value := getattr(raw, name), str) and "\x00" in value}
    return replace(raw, **changes) if changes else raw


RETRIES = 3  # a job that lost a deadlock between instances is retried in the same batch


class PostgresStore(CommonStore):
    def __init__(self, url: str, *, batch_limit: int = 256, pool_size: int = 10, auto_migrate: bool = True) -> None:
        self.url = url
        self.batch_limit = batch_limit
        self.pool_size = pool_size
        self.auto_migrate = auto_migrate
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._queue: asyncio.Queue[Any] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._closed = True

    # -- lifecycle --------------------------------------------------------------------------------
    def _where(self) -> str:
        from smshook.settings import mask_url

        return mask_url(self.url)

    async def _connect(self) -> asyncpg.Pool[asyncpg.Record]:
        with map_exceptions(f"cannot connect to PostgreSQL at {self._where()}", ValueError):
            return await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size, timeout=10,
                                             command_timeout=60, server_settings={"application_name": "smshook"})

    async def open(self) -> None:
        pool = await self._connect()
        try:
            with map_exceptions(f"cannot prepare PostgreSQL database {self._where()}"):
                async with pool.acquire() as conn:
                    await self._migrate(conn, self.auto_migrate)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        self._queue = asyncio.Queue()
        self._closed = False
        self._writer_task = asyncio.create_task(self._writer(), name="smshook-postgres-writer")

    async def upgrade(self) -> list[str]:
        pool = await self._connect()
        try:
            with map_exceptions(f"cannot migrate PostgreSQL database {self._where()}"):
                async with pool.acquire() as conn:
                    return await self._migrate(conn, True)
        finally:
            await pool.close()

    @staticmethod
    async def _migrate(conn: Conn, apply: bool) -> list[str]:
        """Apply (or with ``apply=False`` only check) pending migrations, one instance at a time."""
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            if apply:
                await conn.execute(f"CREATE TABLE IF NOT EXISTS {schema.TABLE} "
                                   "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done: set[int] = set()
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", schema.TABLE):
                done = {row[0] for row in await conn.fetch(f"SELECT version FROM {schema.TABLE}")}
            pending = schema.plan("postgresql", done)
            if pending and not apply:
                raise schema.outdated(pending)
            applied = []
            for migration in pending:
                async with conn.transaction():
                    await conn.execute(migration.sql)  # the whole file: several statements
                    await conn.execute(f"INSERT INTO {schema.TABLE} (version) VALUES ($1)", migration.version)
                applied.append(migration.name)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._queue is not None and self._writer_task is not None:
            self._queue.put_nowait(_STOP)
            await self._writer_task
        if self._pool is not None:
            await self._pool.close()
        self._pool = self._queue = self._writer_task = None

    def _ready(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._closed or self._pool is None:
            raise StoreError("store is closed")
        return self._pool

    # -- writes: group commit ---------------------------------------------------------------------
    async def _submit(self, run: Callable[[_Batch], Awaitable[T]], events: list[Event] | None = None,
                      append: tuple[RawRecord, list[Event]] | None = None) -> T:
        self._ready()
        assert self._queue is not None
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        keys = tuple(e.key for e in events or ())
        self._queue.put_nowait(_Job(run, keys, status_messages(events or []), future, append))
        return await future

    async def _writer(self) -> None:
        assert self._queue is not None
        stopping = False
        while not stopping:
            job = await self._queue.get()
            if job is _STOP:
                break
            jobs: list[_Job] = [job]
            while len(jobs) < self.batch_limit and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is _STOP:
                    stopping = True
                    break
                jobs.append(job)
            for job, (value, error) in zip(jobs, await self._commit(jobs), strict=True):
                if job.future.done():
                    continue
                if error is not None:
                    job.future.set_exception(error)
                else:
                    job.future.set_result(value)

    async def _commit(self, jobs: list[_Job]) -> list[tuple[Any, BaseException | None]]:
        started = time.perf_counter()
        try:
            results = await self._transaction(jobs, isolated=False)
        except Exception:
            # A job (or a deadlock with another instance) failed the shared transaction, so nothing of it
            # was stored: once more, each job in its own savepoint, so that only the culprit fails.
            try:
                results = await self._transaction(jobs, isolated=True)
            except Exception as exc:  # the transaction did not commit: nothing of any job was stored
                error = StoreError(f"commit failed: {exc}")
                return [(None, error) for _ in jobs]
        self._committed(len(jobs), time.perf_counter() - started)
        return results

    async def _transaction(self, jobs: list[_Job], isolated: bool) -> list[tuple[Any, BaseException | None]]:
        """Run ``jobs`` in one transaction and commit; ``isolated``: each in a savepoint (slower)."""
        results: list[tuple[Any, BaseException | None]] = []
        assert self._pool is not None
        async with self._pool.acquire() as conn, conn.transaction():
            messages = {m for job in jobs for m in job.messages}
            if messages:
                await conn.execute(LOCK_STRIPES, LOCK_BASE, sorted({message_stripe(*m) for m in messages}))
            batch = _Batch(conn, await self._known_keys(conn, (k for job in jobs for k in job.keys)),
                           await self._matchers(conn), link_windows=self.link_windows)
            if messages:
                await batch.prefetch(messages)
            if not isolated and all(job.append is not None for job in jobs):
                results = await self._bulk_append(batch, jobs)
            else:
                for job in jobs:
                    if isolated:
                        results.append(await self._run_job(batch, job))
                    else:
                        await batch.prefetch(job.messages)
                        results.append((await job.run(batch), None))
            if batch.new_seqs:
                # Feed positions in commit order: the counter row stays locked until COMMIT.
                await conn.execute(FEED_NUMBER, batch.new_seqs)
        return results

    @staticmethod
    async def _run_job(batch: _Batch, job: _Job) -> tuple[Any, BaseException | None]:
        mark, planned = len(batch.new_seqs), len(batch.planned)
        for attempt in range(RETRIES):
            try:
                async with batch.conn.transaction():  # a savepoint: one bad job must not fail its neighbours
                    await batch.prefetch(job.messages)
                    return await job.run(batch), None
            except Exception as exc:
                batch.states.clear()  # rolled back: read again
                del batch.new_seqs[mark:]
                for plan in batch.planned[planned:]:
                    batch.known -= plan.fresh
                del batch.planned[planned:]
                # a deadlock: another instance held what we needed, try again
                if not isinstance(exc, asyncpg.DeadlockDetectedError) or attempt == RETRIES - 1:
                    return None, StoreError(f"could not store: {exc}")
        raise AssertionError("unreachable")

    @staticmethod
    async def _known_keys(conn: Conn, keys: Iterable[bytes]) -> set[bytes]:
        """Keys already stored, to skip most retries cheaply (the unique constraint still decides)."""
        wanted = list(set(keys))
        if not wanted:
            return set()
        return {bytes(r[0]) for r in await conn.fetch("SELECT key FROM events WHERE key = ANY($1::bytea[])", wanted)}

    @staticmethod
    async def _matchers(conn: Conn) -> tuple[Matcher, ...]:
        rows = await conn.fetch(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE enabled ORDER BY id")
        return tuple(Matcher(subscription_from_row(tuple(r))) for r in rows)

    async def append(self, raw: RawRecord, events: list[Event]) -> AppendResult:
        raw, events = nul_free_raw(raw), [nul_free(e) for e in events]

        async def run(batch: _Batch) -> AppendResult:  # its messages' states are read (_Batch.prefetch)
            [result] = await self._store(batch, [batch.plan(events, raw.id, raw.received_at)])
            await batch.conn.execute(INSERT_RAW, *raw_row(raw, result.new_count, result.duplicates))
            return result

        return await self._submit(run, events, (raw, events))

    @classmethod
    async def _bulk_append(cls, batch: _Batch, jobs: list[_Job]) -> list[tuple[Any, BaseException | None]]:
        """Every job an append: the same as running them one by one, in a few statements for the batch."""
        appends = [job.append for job in jobs if job.append is not None]
        results = await cls._store(batch, [batch.plan(events, raw.id, raw.received_at) for raw, events in appends])
        await batch.conn.executemany(INSERT_RAW, [raw_row(raw, result.new_count, result.duplicates)
                                                  for (raw, _), result in zip(appends, results, strict=True)])
        return [(result, None) for result in results]

    @staticmethod
    async def _store(batch: _Batch, plans: list[Planned]) -> list[AppendResult]:
        """Write planned requests: all their events in one ``unnest`` insert, their messages' states and
        their deliveries. Which status events are new is known before inserting (their messages are
        locked, then the known keys read); an inbound event may still lose its key to another
        instance's insert, which RETURNING tells."""
        rows = [row for plan in plans for row in plan.rows]
        inserted: dict[bytes, int] = {}
        if rows:
            inserted = {bytes(r[1]): r[0] for r in await batch.conn.fetch(INSERT_EVENTS, *zip(*rows, strict=True))}
        planned = [plan.stored for plan in plans]
        if any(e.key not in inserted for events in planned for e in events if e.type == "status" and e.message_id
               and e.status):  # cannot happen under the message locks: be safe, not sorry
            raise StoreError("a status event was stored concurrently by another writer")
        changed = {key: state for plan in plans for key, state in plan.changed.items()}
        if changed:
            await batch.conn.executemany(UPSERT_MESSAGE, [
                (c, m, s.status, s.occurred_at, s.conflict, s.updated_at, int(s.synthetic), batch.start_of((c, m)))
                for (c, m), s in changed.items()])
        stored = [[e for e in events if e.key in inserted] for events in planned]
        results, deliveries = [], []
        waits = await batch.link_waits([e for events in stored for e in events]) if batch.matchers else {}
        now = time.time()
        for plan, events in zip(plans, stored, strict=True):
            queued = fan_out(events, batch.matchers, now, waits)
            new = tuple(f and e.key in inserted for e, f in zip(plan.events, plan.new, strict=True))
            results.append(AppendResult(new, len(queued)))
            deliveries += queued
        if deliveries:  # the transactional outbox: queued in the same transaction
            await batch.conn.executemany(INSERT_DELIVERY, deliveries)
        batch.new_seqs += sorted(inserted.values())
        return results

    async def resolve_quarantine(self, quarantine_id: str, events: list[Event], at: str) -> AppendResult:
        events = [nul_free(e) for e in events]

        async def run(batch: _Batch) -> AppendResult | LookupError | ValueError:
            conn = batch.conn
            row = await conn.fetchrow("SELECT raw_request_id, reprocessed_at FROM quarantine WHERE id = $1 "
                                      "FOR UPDATE", quarantine_id)
            refused = unresolvable(quarantine_id, row)
            if refused is not None:
                return refused
            assert row is not None
            [result] = await self._store(batch, [batch.plan(events, row[0], at)])
            for sql, args in queries.resolved(queries.POSTGRES, quarantine_id, row[0], at, result):
                await conn.execute(sql, *args)
            return result

        outcome = await self._submit(run, events)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def quarantine(self, raw: RawRecord, reason: str, http_status: int) -> str:
        digest = quarantine_digest(raw)
        raw, reason = nul_free_raw(raw), reason.replace("\x00", "\ufffd")

        async def run(batch: _Batch) -> str:
            row = await batch.conn.fetchrow(
                "INSERT INTO quarantine (id, digest, connection, provider, reason, http_status, attempts, "
                "first_seen, last_seen, raw_request_id) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $1) "
                "ON CONFLICT (digest) DO UPDATE SET attempts = quarantine.attempts + 1, "
                "last_seen = excluded.last_seen, reason = excluded.reason, http_status = excluded.http_status "
                "RETURNING id, (xmax = 0) AS inserted",
                raw.id, digest, raw.connection, raw.provider, reason, http_status, raw.received_at)
            assert row is not None
            if row["inserted"]:
                await batch.conn.execute(INSERT_RAW, *raw_row(raw, 0, 0))
            return str(row["id"])

        return await self._submit(run)

    async def record_rejected(self, entry: RejectedRecord) -> str:
        async def run(batch: _Batch) -> str:
            values = rejected_row(entry, nul_free=True)
            marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
            columns = REJECTED_COLUMNS.replace(" attempts,", "")
            row = await batch.conn.fetchrow(
                f"INSERT INTO rejected_requests ({columns}) VALUES ({marks}) ON CONFLICT (digest) DO UPDATE SET "
                "attempts = rejected_requests.attempts + 1, last_seen = excluded.last_seen, "
                "reason = excluded.reason, message = excluded.message RETURNING id, (xmax = 0) AS inserted", *values)
            assert row is not None
            if row["inserted"]:
                await batch.conn.execute("DELETE FROM rejected_requests WHERE id < (SELECT id FROM rejected_requests "
                                         "ORDER BY id DESC LIMIT 1 OFFSET $1)", REJECTED_KEEP - 1)
            return str(row["id"])

        return await self._submit(run)

    # -- reads ------------------------------------------------------------------------------------
    dialect = queries.POSTGRES

    async def _read_rows(self, statements: Sequence[tuple[str, list[Any]]]) -> list[list[Sequence[Any]]]:
        async def run(c: Conn) -> list[list[Sequence[Any]]]:
            return [[tuple(r) for r in await c.fetch(sql, *args)] for sql, args in statements]

        return await self._read(run)

    async def _read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        pool = self._ready()
        with map_exceptions("read failed"):
            async with pool.acquire() as conn:
                return await fn(conn)

    async def _write(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """A write outside the group-commit queue (forwarding state): its own transaction."""

        async def run(conn: Conn) -> T:
            async with conn.transaction():
                return await fn(conn)

        return await self._read(run)

    async def ping(self) -> bool:
        try:
            return bool(await self._read(lambda c: c.fetchval("SELECT 1", timeout=5)) == 1)
        except StoreError:
            return False

    async def events(self, query: EventQuery) -> list[dict[str, Any]]:
        sql, args = queries.events(queries.POSTGRES, query)

        async def run(c: Conn) -> list[dict[str, Any]]:
            return await lifecycle_store.enrich_postgres(c, await _fetch(c, sql, args, public_event))

        return await self._read(run)

    async def message(self, connection: str, message_id: str) -> dict[str, Any] | None:
        connection, message_id = nul_free_text(connection), nul_free_text(message_id)
        (state_sql, state_args), (events_sql, events_args) = queries.message(queries.POSTGRES, connection, message_id)

        async def run(c: Conn) -> dict[str, Any] | None:
            state = await c.fetchrow(state_sql, *state_args)
            view = message_view(connection, message_id, state, await c.fetch(events_sql, *events_args))
            if view is not None:
                await lifecycle_store.enrich_postgres(c, view["events"])
            return view

        return await self._read(run)

    # -- live feed and statistics -----------------------------------------------------------------
    async def feed_position(self) -> int:
        return int(await self._read(lambda c: c.fetchval("SELECT last FROM feed_counter WHERE id = 1")) or 0)

    async def feed(self, after: int, limit: int = 500, connection: str | None = None,
                   type: str | None = None) -> list[tuple[int, dict[str, Any]]]:
        sql, args = queries.feed(queries.POSTGRES, after, limit, connection, type)

        async def run(c: Conn) -> list[tuple[int, dict[str, Any]]]:
            found = await _fetch(c, sql, args, lambda r: (int(r[0]), public_event(r[1:])))
            await lifecycle_store.enrich_postgres(c, [e for _, e in found])
            return found

        return await self._read(run)

    async def stats(self, since: str, until: str, bucket_seconds: int,
                    connection: str | None = None) -> dict[str, Any]:
        # Stored times are fixed-width stamps: the received_at index gives the exact bounds.
        args = {"lo": stats.exact(since), "hi": stats.exact(until), "start": stats.epoch(since),
                "bucket": bucket_seconds, "connection": connection}
        by_connection = "" if connection is None else " AND connection = :connection"
        messages = STATS_MESSAGES.format(by_connection=by_connection)
        inbound_sql = (
            f"SELECT connection, count(*) FROM events WHERE received_at >= :lo AND received_at < :hi "
            f"AND type = 'inbound'{by_connection} GROUP BY connection")

        async def run(c: Conn) -> dict[str, Any]:
            async with c.transaction(isolation="repeatable_read", readonly=True):  # one snapshot for every part
                counts = [tuple(r) for r in await c.fetch(*named(f"{messages} {STATS_COUNTS}", args))]
                medians = [(r[0], r[1], float(r[2])) for r in await c.fetch(*named(f"{messages} {STATS_MEDIANS}",
                                                                                      args))]
                inbound = [(r[0], int(r[1])) for r in await c.fetch(*named(inbound_sql, args))]
                tails = [(r[0], float(r[1])) for r in await c.fetch(*named(f"{messages} {STATS_P90}", args))]
            return stats.assemble(since, until, bucket_seconds, counts, medians, inbound, tails)

        return await self._read(run)

    # -- forwarding -------------------------------------------------------------------------------
    async def put_subscription(self, subscription: Subscription) -> Subscription:
        values = subscription_row(subscription, stamp(datetime.now(UTC)))

        async def run(c: Conn) -> Subscription:
            row = await c.fetchrow(UPSERT_SUBSCRIPTION, *values)
            assert row is not None
            return subscription_from_row(tuple(row))

        return await self._write(run)

    async def delete_subscription(self, subscription_id: str) -> bool:
        async def run(c: Conn) -> bool:
            found = await c.fetchval("DELETE FROM subscriptions WHERE id = $1 RETURNING id",
                                     nul_free_text(subscription_id))
            await c.execute("DELETE FROM deliveries WHERE subscription_id = $1 AND state IN ('pending', "
                            "'delivering')", nul_free_text(subscription_id))
            return found is not None

        return await self._write(run)

    async def next_due(self) -> float | None:
        value = await self._read(lambda c: c.fetchval(
            "SELECT min(d.next_attempt_at) FROM deliveries d JOIN subscriptions s "
            "ON s.id = d.subscription_id AND s.enabled WHERE d.state IN ('pending', 'delivering')"))
        return float(value) if value is not None else None

    async def claim_deliveries(self, owner: str, now: float, lease: float, limit: int,
                               skip: Collection[str] = ()) -> list[Claimed]:
        async def run(c: Conn) -> list[Claimed]:
            rows = sorted(await c.fetch(CLAIM, now, limit, owner, now + lease, list(skip)),
                          key=lambda r: (r[5], r[0]))
            if not rows:
                return []
            subs = {r[0]: subscription_from_row(tuple(r)) for r in await c.fetch(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ANY($1::text[])",
                list({r[2] for r in rows}))}
            events = {r[0]: public_event(tuple(r)) for r in await c.fetch(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ANY($1::text[])", list({r[3] for r in rows}))}
            await lifecycle_store.enrich_postgres(c, list(events.values()))
            return [Claimed(r[1], subs[r[2]], events[r[3]], r[4], owner)
                    for r in rows if r[2] in subs and r[3] in events]

        return await self._write(run)

    async def record_attempts(self, owner: str, outcomes: Sequence[tuple[str, Outcome]]) -> list[bool]:
        delivered = [(i, o) for i, o in outcomes if o.state == "delivered"]
        others = [(i, o) for i, o in outcomes if o.state != "delivered"]

        async def run(c: Conn) -> list[bool]:
            owners: dict[str, str] = {}
            if delivered:  # one statement for the batch's successes (always recorded)
                owners.update((r[0], r[1]) for r in await c.fetch(
                    "UPDATE deliveries d SET state = 'delivered', attempts = d.attempts + 1, delivered_at = u.at, "
                    "updated_at = u.at, lease_owner = NULL, last_status = u.status, last_error = NULL "
                    "FROM unnest($1::text[], $2::float8[], $3::int[]) AS u(id, at, status) WHERE d.id = u.id "
                    "RETURNING d.id, d.subscription_id",
                    [i for i, _ in delivered], [o.at for _, o in delivered], [o.http_status for _, o in delivered]))
            if others:  # failures and handed-back leases, only while the lease is still ours
                owners.update((r[0], r[1]) for r in await c.fetch(
                    "UPDATE deliveries d SET state = u.state, attempts = d.attempts + u.counted, "
                    "next_attempt_at = u.next, updated_at = u.at, lease_owner = NULL, "
                    "last_error = CASE WHEN u.counted = 1 THEN u.error ELSE d.last_error END, "
                    "last_status = CASE WHEN u.counted = 1 THEN u.status ELSE d.last_status END "
                    "FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::int[], $6::float8[], "
                    "$7::int[]) AS u(id, state, next, error, status, at, counted) "
                    "WHERE d.id = u.id AND d.lease_owner = $8 AND d.state = 'delivering' "
                    "RETURNING d.id, d.subscription_id",
                    [i for i, _ in others], [o.state for _, o in others],
                    [o.next_attempt_at or o.at for _, o in others], [o.error for _, o in others],
                    [o.http_status for _, o in others], [o.at for _, o in others],
                    [int(o.attempted) for _, o in others], owner))
            recorded = [(owners[i], o) for i, o in outcomes if i in owners]
            statements, _ = queries.counter_updates(queries.POSTGRES, recorded)
            for sql, args in statements:  # the subscriptions are read in every batch: nothing to refresh
                await c.execute(sql, *args)
            return [delivery_id_ in owners for delivery_id_, _ in outcomes]

        return await self._write(run)

    async def replay(self, query: ReplayQuery, now: float) -> int:
        sql, args = queries.replay(queries.POSTGRES, query, now)

        async def run(c: Conn) -> int:
            count = int((await c.execute(sql, *args)).rsplit(" ", 1)[-1])
            row = await c.fetchrow(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1",
                                   query.subscription_id or "")
            if row is not None and (query.since or query.until or query.event_ids or query.message_id):
                # Events in range that this subscription never had (it came later): queue them now.
                sub = subscription_from_row(tuple(row))
                backfill_sql, backfill_args = queries.replay_backfill(queries.POSTGRES, query, sub.id)
                fresh = backfill(await c.fetch(backfill_sql, *backfill_args), sub, now)
                if fresh:
                    await c.executemany(INSERT_DELIVERY, fresh)
                count += len(fresh)
            return count

        return await self._write(run)

async def _fetch(conn: Conn, sql: str, args: list[Any], convert: Callable[[tuple[Any, ...]], T]) -> list[T]:
    return [convert(tuple(r)) for r in await conn.fetch(sql, *args)]
