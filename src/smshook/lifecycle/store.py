"""The database side of the message lifecycle, one code path for SQLite and PostgreSQL.

The functions here are coroutines over a tiny :class:`Db` (``fetch`` / ``execute`` with ``?``
placeholders). On PostgreSQL they run on a pool connection (``?`` become ``$n``); on SQLite inside
the store's own writer thread or a reader thread, where :func:`run_sync` drives them (SQLite calls
never suspend, so each coroutine runs to completion in one step). Writes go through the store's own
transactions: SQLite's single writer (a job in its group commit), PostgreSQL's transaction with the
same per-message advisory locks its appends take, so a registration never races a receipt of the
same message on another instance.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from smshook.events import shown, stamp
from smshook.lifecycle import erased, optouts, parts
from smshook.lifecycle.db import Db
from smshook.lifecycle.registration import ROW_COLUMNS, Registration, differences, from_row, to_row
from smshook.status import FINAL
from smshook.storage import queries
from smshook.storage.locks import LOCK_BASE, LOCK_STRIPES, message_stripe

if TYPE_CHECKING:
    from smshook.storage.base import Store

T = TypeVar("T")
OPEN = "('pending', 'sent', 'buffered', 'unknown')"
CHUNK = 500


class SQLiteDb:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.execute(sql, list(args)).fetchall()]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return int(self.conn.execute(sql, list(args)).rowcount)


class PostgresDb:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.conn.fetch(queries.numbered(sql), *map(queries.nul_free_text, args))]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        status = await self.conn.execute(queries.numbered(sql), *map(queries.nul_free_text, args))
        try:
            return int(str(status).rsplit(" ", 1)[-1])
        except ValueError:
            return 0


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (one over :class:`SQLiteDb`) to its end, synchronously."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a lifecycle query suspended on SQLite")


def _is_sqlite(store: Store) -> bool:
    return getattr(store, "dialect", None) is queries.SQLITE


async def read(store: Store, fn: Callable[[Db], Awaitable[T]]) -> T:
    """Run ``fn`` on a read connection of ``store``."""
    if _is_sqlite(store):
        return await store._read(lambda c: run_sync(fn(SQLiteDb(c))))  # type: ignore[attr-defined,no-any-return,arg-type]
    return await store._read(lambda c: fn(PostgresDb(c)))  # type: ignore[attr-defined,no-any-return]


async def write(store: Store, fn: Callable[[Db], Awaitable[T]], messages: Iterable[tuple[str, str]] = ()) -> T:
    """Run ``fn`` in a write transaction of ``store`` that holds the locks of ``messages``
    (``(connection, message_id)`` pairs whose ``messages`` rows it changes)."""
    if _is_sqlite(store):
        def job(batch: Any) -> T:
            batch.states.clear()  # the rows it changes are read again by the batch's later jobs
            return run_sync(fn(SQLiteDb(batch.conn)))  # type: ignore[arg-type]

        return await store._submit(job)  # type: ignore[attr-defined,no-any-return]
    stripes = sorted({message_stripe(c, m) for c, m in messages})

    async def run(conn: Any) -> T:
        if stripes:
            await conn.execute(LOCK_STRIPES, LOCK_BASE, stripes)
        return await fn(PostgresDb(conn))

    return await store._write(run)  # type: ignore[attr-defined,no-any-return]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


# -- registration -----------------------------------------------------------------------------------

async def register(store: Store, registrations: Sequence[Registration]) -> list[tuple[int, dict[str, Any]]]:
    """Store registrations in one transaction: per item ``(201, message)`` when new, ``(200, message)``
    when the same registration was there already, ``(409, {"error"})`` when it conflicts. Receipts
    already received are linked (their message's clock starts at ``sent_at``) and their held
    deliveries (``link_window``) are released."""
    locks = [(r.connection, p) for r in registrations for p in r.tracked]
    return await write(store, lambda db: _register(db, registrations), locks)


async def _register(db: Db, registrations: Sequence[Registration]) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    now = time.time()
    for reg in registrations:
        rows = await db.fetch(f"SELECT {ROW_COLUMNS} FROM registrations WHERE connection = ? AND message_id = ?",
                              (reg.connection, reg.message_id))
        if rows:
            stored = from_row(rows[0])
            diff = differences(stored, reg)
            if diff:
                out.append((409, {"error": f"message {reg.message_id!r} on connection {reg.connection!r} is "
                                           f"registered already with a different {', '.join(diff)}",
                                  "message_id": reg.message_id, "fields": diff}))
            else:
                out.append((200, stored.public()))
            continue
        tracked = list(reg.tracked)
        linked = await db.fetch(f"SELECT provider_id, message_id FROM message_links WHERE connection = ? "
                                f"AND provider_id IN ({_marks(len(tracked))})", (reg.connection, *tracked))
        taken = [(p, m) for p, m in linked if m != reg.message_id]
        if taken:
            p, m = taken[0]
            out.append((409, {"error": f"parts: {p!r} belongs to message {m!r} already", "message_id": reg.message_id,
                              "fields": ["parts"]}))
            continue
        await db.execute(f"INSERT INTO registrations ({ROW_COLUMNS}) VALUES ({_marks(10)})", to_row(reg))
        for provider_id in tracked:
            await db.execute("INSERT INTO message_links (connection, provider_id, message_id) VALUES (?, ?, ?)",
                             (reg.connection, provider_id, reg.message_id))
            # The message's clock starts at sent_at (stuck detection, time to delivery); a message
            # without any receipt yet is `pending` (so it can be found stuck).
            await db.execute(
                "INSERT INTO messages (connection, message_id, status, occurred_at, conflict, updated_at, synthetic, "
                f"first_seen, sent_at) VALUES (?, ?, 'pending', NULL, {_false(db)}, ?, 0, ?, ?) "
                "ON CONFLICT (connection, message_id) DO UPDATE SET sent_at = excluded.sent_at, "
                "first_seen = excluded.first_seen",
                (reg.connection, provider_id, reg.registered_at, reg.sent_at, reg.sent_at))
            # Status events held for the link window go out now, with the reference.
            await db.execute("UPDATE deliveries SET next_attempt_at = ? WHERE connection = ? AND message_id = ? "
                             "AND state = 'pending' AND attempts = 0 AND next_attempt_at > ?",
                             (now, reg.connection, provider_id, now))
        out.append((201, reg.public()))
    return out


def _false(db: Db) -> str:
    return "0" if db.dialect == "sqlite" else "false"


async def registration_of(db: Db, connection: str, message_id: str) -> Registration | None:
    """The registration of a message, found by its own id or by the id of one of its parts."""
    rows = await db.fetch(
        f"SELECT {', '.join('r.' + c.strip() for c in ROW_COLUMNS.split(','))} FROM message_links l "
        "JOIN registrations r ON r.connection = l.connection AND r.message_id = l.message_id "
        "WHERE l.connection = ? AND l.provider_id = ?", (connection, message_id))
    if not rows:
        rows = await db.fetch(f"SELECT {ROW_COLUMNS} FROM registrations WHERE connection = ? AND message_id = ?",
                              (connection, message_id))
    return from_row(rows[0]) if rows else None


# -- enrichment: the events of a registered message carry its reference and metadata -----------------

async def enrich(db: Db, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``reference`` (the registration's, when it has one) and ``metadata`` to the public events
    of registered messages, in place; returns ``events``."""
    wanted: dict[str, set[str]] = {}
    for e in events:
        if e.get("message_id") and e.get("type") == "status":
            wanted.setdefault(e["connection"], set()).add(e["message_id"])
    if not wanted:
        return events
    found: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for connection, ids in wanted.items():
        chunk = sorted(ids)
        for start in range(0, len(chunk), CHUNK):
            part = chunk[start:start + CHUNK]
            for provider_id, reference, metadata in await db.fetch(
                    "SELECT l.provider_id, r.reference, r.metadata FROM message_links l JOIN registrations r "
                    "ON r.connection = l.connection AND r.message_id = l.message_id "
                    f"WHERE l.connection = ? AND l.provider_id IN ({_marks(len(part))})", (connection, *part)):
                found[(connection, provider_id)] = (reference, metadata)
    for e in events:
        hit = found.get((e.get("connection") or "", e.get("message_id") or ""))
        if hit is not None:
            if hit[0] is not None:
                e["reference"] = hit[0]
            e["metadata"] = orjson.loads(hit[1]) if hit[1] else None
    return events


def enrich_sqlite(conn: sqlite3.Connection, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return run_sync(enrich(SQLiteDb(conn), events))


async def enrich_postgres(conn: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return await enrich(PostgresDb(conn), events)


def is_registered_sqlite(conn: sqlite3.Connection, connection: str, message_id: str) -> bool:
    """For the link window on the append path: is this provider id a registered message's?"""
    return conn.execute("SELECT 1 FROM message_links WHERE connection = ? AND provider_id = ?",
                        (connection, message_id)).fetchone() is not None


async def registered_postgres(conn: Any, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    wanted = list(set(pairs))
    if not wanted:
        return set()
    rows = await conn.fetch("SELECT l.connection, l.provider_id FROM message_links l JOIN unnest($1::text[], "
                            "$2::text[]) AS k(c, i) ON l.connection = k.c AND l.provider_id = k.i",
                            [c for c, _ in wanted], [i for _, i in wanted])
    return {(r[0], r[1]) for r in rows}


# -- message lookup ----------------------------------------------------------------------------------

def _final_time(occurred_at: str | None, updated_at: str | None) -> str | None:
    return occurred_at or updated_at


async def describe(store: Store, connection: str, message_id: str) -> dict[str, Any] | None:
    """``GET /v1/messages/{connection}/{message_id}``: the message's status (rolled up from its parts),
    timeline, registration (``registered``, ``reference``, ``metadata``, ``sent_at``, ``parts`` with
    each part's status) and ``time_to_final_s``; None when smshook knows nothing of it."""
    reg = await read(store, lambda db: registration_of(db, connection, message_id))
    if reg is None:
        base = await store.message(connection, message_id)
        if base is None:
            return None
        start = await read(store, lambda db: _unregistered_start(db, connection, message_id, base))
        end = await read(store, lambda db: _final_at(db, connection, [message_id]))
        base.update({"registered": False, "reference": _echoed_reference(base), "metadata": None,
                     "sent_at": shown(start), "parts": [], "partial": False,
                     "time_to_final_s": parts.seconds_between(start, end.get(message_id)) if base["final"] else None})
        return base
    return await read(store, lambda db: _registered_view(db, reg))


def _echoed_reference(view: dict[str, Any]) -> str | None:
    return next((e["reference"] for e in view["events"] if e.get("reference")), None)


async def _unregistered_start(db: Db, connection: str, message_id: str, view: dict[str, Any]) -> str | None:
    """The best known start of an unregistered message: the provider's own submit time, else its
    first event's time when it has more than one event (one receipt alone has no start)."""
    rows = await db.fetch("SELECT sent_at FROM messages WHERE connection = ? AND message_id = ?",
                          (connection, message_id))
    if rows and rows[0][0]:
        return str(rows[0][0])
    own = [e for e in view["events"] if e["message_id"] == message_id and e["type"] == "status"]
    if len(own) < 2:
        return None
    # the public events show times without `.000`: compare them as stored (fixed width), not as shown
    return min(stamp(datetime.fromisoformat((e["occurred_at"] or e["received_at"]).replace("Z", "+00:00"))) or ""
               for e in own)


async def _final_at(db: Db, connection: str, ids: Sequence[str]) -> dict[str, str | None]:
    rows = await db.fetch(f"SELECT message_id, status, occurred_at, updated_at FROM messages WHERE connection = ? "
                          f"AND message_id IN ({_marks(len(ids))})", (connection, *ids))
    return {r[0]: _final_time(r[2], r[3]) for r in rows if r[1] in FINAL}


async def _registered_view(db: Db, reg: Registration) -> dict[str, Any]:
    from smshook.storage.queries import EVENT_COLUMNS
    from smshook.storage.rows import public_event

    tracked = list(reg.tracked)
    states = {r[0]: r for r in await db.fetch(
        "SELECT message_id, status, occurred_at, updated_at, conflict, synthetic FROM messages WHERE connection = ? "
        f"AND message_id IN ({_marks(len(tracked))})", (reg.connection, *tracked))}
    rows = await db.fetch(f"SELECT {EVENT_COLUMNS}, effect FROM events WHERE connection = ? "
                          f"AND message_id IN ({_marks(len(tracked))}) ORDER BY id", (reg.connection, *tracked))
    events = await enrich(db, [public_event(r) for r in rows])
    part_views: list[dict[str, Any]] = []
    for pid in tracked:
        s = states.get(pid)
        status = s[1] if s else None
        part_views.append({"message_id": pid, "status": status, "final": status in FINAL,
                           "synthetic": bool(s and s[5]), "final_at": _final_time(s[2], s[3]) if s and status in FINAL
                           else None})
    rolled = parts.rollup([p["status"] for p in part_views])
    end: str | None = None
    if rolled.final:
        times: list[str] = [p["final_at"] for p in part_views if p["final"] and p["final_at"]]
        if rolled.status in parts.DELIVERED:
            end = max(times) if times else None
        else:
            failed: list[str] = [p["final_at"] for p in part_views
                      if p["status"] in FINAL and p["status"] not in parts.DELIVERED and p["final_at"]]
            end = min(failed) if failed else None
    return {
        "connection": reg.connection, "message_id": reg.message_id, "registered": True,
        "reference": reg.reference, "metadata": reg.metadata, "to": reg.to, "from": reg.from_,
        "sent_at": shown(reg.sent_at), "registered_at": shown(reg.registered_at),
        "status": rolled.status, "final": rolled.final, "partial": rolled.partial,
        "conflict": any(bool(s[4]) for s in states.values()),
        "synthetic": any(p["synthetic"] for p in part_views),
        "updated_at": max((s[3] for s in states.values()), default=None),
        "parts": part_views if reg.parts else [],
        "time_to_final_s": parts.seconds_between(reg.sent_at, end),
        "events": events, "effects": {r[0]: r[-1] for r in rows if r[-1] is not None},
    }


async def by_reference(store: Store, reference: str, limit: int = 50) -> list[dict[str, Any]]:
    """Registered messages with this reference (newest registration first), each as :func:`describe`."""
    rows = await read(store, lambda db: db.fetch(
        "SELECT connection, message_id FROM registrations WHERE reference = ? ORDER BY registered_at DESC LIMIT ?",
        (reference, limit)))
    found = [await describe(store, c, m) for c, m in rows]
    return [f for f in found if f is not None]


# -- stuck messages ----------------------------------------------------------------------------------

async def overdue(store: Store, connection: str, cutoff: str, limit: int) -> list[tuple[str, str]]:
    """``(message_id, started_at)`` of open messages of ``connection`` whose clock started (the
    registration's ``sent_at``, else the first event's receipt) before ``cutoff`` (ISO UTC), oldest first."""
    return [(str(m), str(s)) for m, s in await read(store, lambda db: db.fetch(
        "SELECT message_id, first_seen FROM messages WHERE connection = ? "
        f"AND status IN {OPEN} AND first_seen < ? ORDER BY first_seen LIMIT ?", (connection, cutoff, limit)))]


async def stuck(store: Store, limit: int = 50, before: str | None = None,
                connection: str | None = None) -> list[dict[str, Any]]:
    """Messages whose current status is the synthetic ``expired`` (newest first; ``before``: the
    ``updated_at`` of the previous page's last row)."""
    where, args = ["m.synthetic = 1"], []
    if before is not None:
        where.append("m.updated_at < ?")
        args.append(before)
    if connection is not None:
        where.append("m.connection = ?")
        args.append(connection)
    rows = await read(store, lambda db: db.fetch(
        "SELECT m.connection, m.message_id, m.status, m.updated_at, m.first_seen, "
        "r.message_id, r.reference, r.recipient FROM messages m LEFT JOIN message_links l "
        "ON l.connection = m.connection AND l.provider_id = m.message_id LEFT JOIN registrations r "
        f"ON r.connection = l.connection AND r.message_id = l.message_id WHERE {' AND '.join(where)} "
        "ORDER BY m.updated_at DESC LIMIT ?", (*args, limit)))
    return [{"connection": r[0], "message_id": r[5] or r[1], "part": r[1] if r[5] and r[5] != r[1] else None,
             "status": r[2], "expired_at": r[3], "started_at": r[4], "registered": r[5] is not None,
             "reference": r[6], "to": r[7]} for r in rows]


async def take_lease(store: Store, name: str, owner: str, seconds: float) -> bool:
    """Take or renew the lease ``name`` for ``owner`` (True) unless another owner holds it unexpired."""
    now = time.time()

    async def run(db: Db) -> bool:
        await db.execute("INSERT INTO lifecycle_leases (name, owner, until) VALUES (?, ?, ?) ON CONFLICT (name) "
                         "DO UPDATE SET owner = excluded.owner, until = excluded.until "
                         "WHERE lifecycle_leases.until < ? OR lifecycle_leases.owner = excluded.owner",
                         (name, owner, now + seconds, now))
        rows = await db.fetch("SELECT owner FROM lifecycle_leases WHERE name = ?", (name,))
        return bool(rows and rows[0][0] == owner)

    return await write(store, run)


async def drop_lease(store: Store, name: str, owner: str) -> None:
    await write(store, lambda db: db.execute("DELETE FROM lifecycle_leases WHERE name = ? AND owner = ?",
                                             (name, owner)))


# -- opt-outs ----------------------------------------------------------------------------------------

CHANGE_COLUMNS = "id, type, recipient, keyword, coalesce(occurred_at, received_at), connection"


async def changes(db: Db, phone: str) -> list[optouts.Change]:
    """A subscriber's opt-out / opt-in events, oldest first (the ``events_optouts`` index)."""
    # SQLite would rather take events_sender (every event of the number): name the small partial index
    hint = " INDEXED BY events_optouts" if db.dialect == "sqlite" else ""
    rows = await db.fetch(f"SELECT {CHANGE_COLUMNS} FROM events{hint} WHERE type IN ('optout', 'optin') "
                          "AND sender = ? ORDER BY id", (phone,))
    return [optouts.Change(*r) for r in rows]


async def all_changes(db: Db, phone: str) -> list[optouts.Change]:
    """:func:`changes`, and the state kept when the number was erased, together in id order."""
    return sorted([*await changes(db, phone), *await erased.kept(db, phone)], key=lambda c: c.id)


async def check(store: Store, phone: str, sender: str | None) -> dict[str, Any]:
    """``GET /v1/optouts/check``: whether ``phone`` (normalized) is opted out of ``sender``."""
    found = await read(store, lambda db: all_changes(db, phone))
    return {"phone": phone, **optouts.state(found, sender)}


async def listing(store: Store, phone: str | None, limit: int = 50, before: str | None = None,
                  include_optins: bool = False) -> list[dict[str, Any]]:
    """``GET /v1/optouts``: with ``phone``, every sender scope of that number (opted out or back in);
    without, the numbers currently opted out (newest opt-out first; ``before``: an event id cursor)."""
    if phone is not None:
        found = await read(store, lambda db: all_changes(db, phone))
        return [{"phone": phone, **c} for c in reversed(optouts.current(found)) if include_optins or c["opted_out"]]
    same = "l.recipient IS e.recipient" if _is_sqlite(store) else "l.recipient IS NOT DISTINCT FROM e.recipient"
    where, args = ["e.type = 'optout'", "e.sender IS NOT NULL"], []  # an erased number's: erased.listed
    if before is not None:
        where.append("e.id < ?")
        args.append(before)
    rows = await read(store, lambda db: db.fetch(
        f"SELECT e.sender, {', '.join('e.' + c for c in ('id', 'type', 'recipient', 'keyword'))}, "
        "coalesce(e.occurred_at, e.received_at), e.connection FROM events e "
        f"WHERE e.type IN ('optout', 'optin') AND {' AND '.join(where)} AND NOT EXISTS (SELECT 1 FROM events l "
        f"WHERE l.type IN ('optout', 'optin') AND l.sender = e.sender AND {same} AND l.id > e.id) "
        "ORDER BY e.id DESC LIMIT ?", (*args, limit)))
    clear = [{"phone": r[0], "sender": r[3], "opted_out": True, "since": r[5], "keyword": r[4], "event_id": r[1],
              "connection": r[6], "erased": False} for r in rows]
    # erased numbers' opt-outs, without the number (smshook.lifecycle.erased), in the same order
    kept = await read(store, lambda db: erased.listed(db, limit, before))
    return sorted([*clear, *kept], key=lambda r: r["event_id"], reverse=True)[:limit]
