"""Data protection in the store, for every backend: the write probe of ``/readyz``, quarantine
dismissal, erasure of a phone number, pruning by age, and the audit log.

Every write here is short: a batch of at most :data:`BATCH` rows per transaction, which on SQLite
joins the writer's group commit like any other job (so ingestion never waits for more than one small
batch) and on PostgreSQL is its own transaction. Candidate rows are found with reads first (SQLite:
the reader connections, never the writer), and each write re-checks its conditions, so a row that
changed in between is left alone.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from smshook.errors import StoreError
from smshook.events import stamp, uuid7
from smshook.lifecycle import erased, optouts
from smshook.lifecycle import store as lifecycle_store
from smshook.privacy import ERASED, Retention, Scrubber
from smshook.storage.contract import Store
from smshook.storage.queries import numbered

if TYPE_CHECKING:
    from smshook.storage.postgres import Conn

log = logging.getLogger("smshook.audit")

BATCH = 500  # rows per pruning transaction
ERASE_BATCH = 200  # rows rewritten per erasure transaction
OPT_EVENTS = ("optout", "optin")
PROBE_PAD = bytes(8192)  # the probe writes this much (more than a page), then removes it


def _engine(store: Store) -> str:
    from smshook.storage.postgres import PostgresStore
    from smshook.storage.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return "sqlite"
    if isinstance(store, PostgresStore):
        return "postgresql"
    raise TypeError(f"no data-protection support for {type(store).__name__}")


def _count(status: str) -> int:
    """Rows affected, from asyncpg's command status (``DELETE 3``, ``UPDATE 1``)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


Statement = tuple[str, Sequence[Any]]


class _Db:
    """The few operations this module needs, over either backend: reads (off the writer) and one
    short write transaction of statements (``?`` placeholders), returning the rows each affected."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = _engine(store)

    def holds(self, expression: str, scrubber: Scrubber, binary: bool = False) -> tuple[str, list[Any]]:
        """A condition: ``expression`` contains the number in some written form."""
        if self.engine == "sqlite":
            return f"smshook_holds({expression})", []
        if binary:
            expression = f"encode({expression}, 'escape')"
        return f"{expression} ~ ?", [scrubber.pattern]

    def among(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        if self.engine == "sqlite":
            return f"{column} IN ({','.join('?' * len(values))})", list(values)
        return f"{column} = ANY(?::text[])", [list(values)]

    async def fetch(self, sql: str, args: Sequence[Any], scrubber: Scrubber | None = None) -> list[tuple[Any, ...]]:
        if self.engine == "sqlite":
            def run(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
                if scrubber is not None:
                    def holds(value: Any) -> int:
                        return int(scrubber.holds(value))

                    conn.create_function("smshook_holds", 1, holds, deterministic=True)
                return [tuple(r) for r in conn.execute(sql, list(args))]

            return await self.store._read(run)  # type: ignore[attr-defined,no-any-return]

        async def fetch(conn: Conn) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in await conn.fetch(numbered(sql), *args)]

        return await self.store._read(fetch)  # type: ignore[attr-defined,no-any-return]

    async def write(self, statements: Sequence[Statement]) -> list[int]:
        if self.engine == "sqlite":
            def run(batch: Any) -> list[int]:
                return [batch.conn.execute(sql, list(args)).rowcount for sql, args in statements]

            return await self.store._submit(run)  # type: ignore[attr-defined,no-any-return]

        async def write(conn: Conn) -> list[int]:
            return [_count(await conn.execute(numbered(sql), *args)) for sql, args in statements]

        return await self.store._write(write)  # type: ignore[attr-defined,no-any-return]


# -- readiness ------------------------------------------------------------------------------------
async def probe_write(store: Store) -> None:
    """Commit a small write (a row of :data:`PROBE_PAD`, removed again in the same transaction): raises
    :class:`StoreError` when the store cannot commit (disk full, read-only, database gone)."""
    db = _Db(store)
    upsert = ("INSERT INTO write_probe (id, pad) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET pad = excluded.pad",
              [PROBE_PAD])
    try:
        await db.write([upsert, ("DELETE FROM write_probe WHERE id = 1", [])])
    except StoreError:
        raise
    except Exception as exc:  # the backend's own error, outside the writer's translation
        raise StoreError(f"write failed: {exc}") from exc


# -- audit ----------------------------------------------------------------------------------------
async def audit(store: Store, action: str, actor: str | None, detail: Mapping[str, Any]) -> str:
    """Keep one audit row (and log it): what was done, by whom, with counts. Never a phone number."""
    row_id = uuid7()
    at = stamp(datetime.now(UTC))
    await _Db(store).write([("INSERT INTO audit_log (id, at, action, actor, detail) VALUES (?, ?, ?, ?, ?)",
                             [row_id, at, action, actor, orjson.dumps(dict(detail)).decode()])])
    log.info("audit %s by %s: %s", action, actor or "-", orjson.dumps(dict(detail)).decode(),
             extra={"audit_id": row_id})
    return row_id


async def audit_rows(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    rows = await _Db(store).fetch("SELECT id, at, action, actor, detail FROM audit_log ORDER BY id DESC LIMIT ?",
                                  [limit])
    return [{"id": r[0], "at": r[1], "action": r[2], "actor": r[3], "detail": orjson.loads(r[4])} for r in rows]


# -- quarantine -----------------------------------------------------------------------------------
async def dismiss_quarantine(store: Store, quarantine_id: str, who: str, why: str,
                             at: str | None = None) -> dict[str, Any]:
    """Mark a quarantine entry resolved (kept, not deleted): who dismissed it, why and when. Raises
    ``KeyError`` when there is no such entry and ``ValueError`` when it was dismissed already."""
    when = at or stamp(datetime.now(UTC))
    db = _Db(store)
    [changed] = await db.write([(
        "UPDATE quarantine SET dismissed_at = ?, dismissed_by = ?, dismissed_reason = ? "
        "WHERE id = ? AND dismissed_at IS NULL", [when, who, why, quarantine_id])])
    if not changed:
        rows = await db.fetch("SELECT dismissed_at, dismissed_by FROM quarantine WHERE id = ?", [quarantine_id])
        if not rows:
            raise KeyError(quarantine_id)
        raise ValueError(f"quarantine entry {quarantine_id} was dismissed already at {rows[0][0]} "
                         f"by {rows[0][1]}")
    entry = await store.quarantine_entry(quarantine_id)
    assert entry is not None
    return entry


async def open_quarantine(store: Store) -> int:
    """Entries waiting for someone: neither re-processed nor dismissed (what ``doctor`` reports)."""
    [(count,)] = await _Db(store).fetch(
        "SELECT count(*) FROM quarantine WHERE reprocessed_at IS NULL AND dismissed_at IS NULL", [])
    return int(count)


# -- erasure --------------------------------------------------------------------------------------
@dataclass
class Erasure:
    """What an erasure changed: rows anonymized per kind (the number itself is never kept here)."""

    events: int = 0
    raw_requests: int = 0
    quarantine: int = 0
    deliveries: int = 0
    subscriptions: int = 0
    registrations: int = 0  # registered messages (POST /v1/messages) to or from it
    rejected: int = 0  # entries of the rejected-requests log (GET /v1/rejected)
    optouts_kept: int = 0  # sender scopes whose opt-out state is kept under the number's keyed hash

    def counts(self) -> dict[str, int]:
        return {"events": self.events, "raw_requests": self.raw_requests, "quarantine": self.quarantine,
                "deliveries": self.deliveries, "subscriptions": self.subscriptions,
                "registrations": self.registrations, "optouts_kept": self.optouts_kept, "rejected": self.rejected}


def _scrub_details(scrubber: Scrubber, details: str) -> str:
    """The details JSON with the number erased from every string (keys included), kept valid JSON."""
    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return scrubber.text(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, int) and not isinstance(value, bool) and scrubber.holds(str(value)):
            return "[erased]"
        return value

    return orjson.dumps(walk(orjson.loads(details))).decode()


async def erase(store: Store, digits: str, actor: str | None = None) -> tuple[dict[str, int], str]:
    """Anonymize everything that holds the number ``digits`` (see :mod:`smshook.privacy`): events
    from or to it lose ``from``/``to`` (inbound events it sent also lose their text, the subscriber's
    own words); every other written occurrence, in texts, details, raw requests (path, query, headers,
    body, URL-encoded forms included), quarantine reasons, delivery errors and the rejected-requests log
    becomes ``[erased]``.
    Deliveries of those events then carry the anonymized event. Registered messages (``POST
    /v1/messages``) to it get ``to`` = ``[erased]`` (from it: ``from`` null), and their reference and
    metadata lose it. Its opt-out / opt-in events lose the number and text like the others, but its
    opt-out state is kept first under a keyed hash of the number (:mod:`smshook.lifecycle.erased`), so
    it stays opted out. Returns the counts and the id of the audit row it keeps (which never holds the
    number)."""
    scrubber = Scrubber(digits)
    db = _Db(store)
    done = Erasure()
    affected_events: list[str] = []

    # events
    text_holds, text_args = db.holds("text", scrubber)
    details_holds, details_args = db.holds("details", scrubber)
    rows = await db.fetch(
        f"SELECT id, type, sender, recipient, text, details, keyword, coalesce(occurred_at, received_at), connection "
        f"FROM events WHERE sender = ? OR recipient = ? OR {text_holds} OR {details_holds}",
        [digits, digits, *text_args, *details_args], scrubber)
    updates: list[Statement] = []
    kept: list[optouts.Change] = []
    for event_id, kind, sender, recipient, text, details, keyword, at, connection in rows:
        from_number = sender == digits or scrubber.holds(sender)
        if kind in OPT_EVENTS and from_number:  # its opt-out state outlives the number (lifecycle.erased)
            kept.append(optouts.Change(event_id, kind, recipient, keyword, at, connection))
        # the subscriber's own words go: its inbound messages' texts, and the STOP / START they implied
        own_words = (kind == "inbound" or kind in OPT_EVENTS) and from_number
        new_text = None if own_words else (scrubber.text(text) if text else text)
        updates.append((
            "UPDATE events SET sender = ?, recipient = ?, text = ?, details = ? WHERE id = ?",
            [None if from_number else sender,
             None if recipient == digits or scrubber.holds(recipient) else recipient,
             new_text, _scrub_details(scrubber, details), event_id]))
        affected_events.append(event_id)
    if kept:  # before the events lose the number: a failure here leaves them as they were
        done.optouts_kept = await lifecycle_store.write(store, lambda ldb: erased.keep(ldb, digits, kept))
    for start in range(0, len(updates), ERASE_BATCH):
        done.events += sum(await db.write(updates[start:start + ERASE_BATCH]))

    # registrations of messages sent to it (or from it): the number, and its mentions in their
    # reference and metadata; the provider ids (message_links) are identifiers and hold no number
    conditions, args = ["recipient = ?", "sender = ?"], [digits, digits]
    for column in ("recipient", "sender", "reference", "metadata"):
        cond, extra = db.holds(column, scrubber)
        conditions.append(cond)
        args += extra
    rows = await db.fetch("SELECT connection, message_id, recipient, sender, reference, metadata FROM registrations "
                          f"WHERE {' OR '.join(conditions)}", args, scrubber)
    updates = []
    for connection, message_id, recipient, sender, reference, metadata in rows:
        updates.append((
            "UPDATE registrations SET recipient = ?, sender = ?, reference = ?, metadata = ? "
            "WHERE connection = ? AND message_id = ?",
            [ERASED if recipient == digits or scrubber.holds(recipient) else recipient,
             None if sender == digits or scrubber.holds(sender) else sender,
             scrubber.text(reference) if reference else reference,
             _scrub_details(scrubber, metadata) if metadata else metadata, connection, message_id]))
    for start in range(0, len(updates), ERASE_BATCH):
        done.registrations += sum(await db.write(updates[start:start + ERASE_BATCH]))

    # raw requests (and the quarantine entries that show them)
    conditions, args = [], []
    for column, binary in (("path", False), ("query", False), ("headers", False), ("body", True)):
        cond, extra = db.holds(column, scrubber, binary)
        conditions.append(cond)
        args += extra
    rows = await db.fetch(f"SELECT id, path, query, headers, body FROM raw_requests WHERE {' OR '.join(conditions)}",
                          args, scrubber)
    updates = []
    raw_ids = []
    for raw_id, path, query, headers, body in rows:
        updates.append(("UPDATE raw_requests SET path = ?, query = ?, headers = ?, body = ? WHERE id = ?",
                        [scrubber.text(path), scrubber.text(query), scrubber.text(headers),
                         scrubber.data(bytes(body)), raw_id]))
        raw_ids.append(raw_id)
    for start in range(0, len(updates), ERASE_BATCH):
        done.raw_requests += sum(await db.write(updates[start:start + ERASE_BATCH]))

    reason_holds, reason_args = db.holds("reason", scrubber)
    quarantined = {r[0]: r[1] for r in await db.fetch(
        f"SELECT id, reason FROM quarantine WHERE {reason_holds}", reason_args, scrubber)}
    for start in range(0, len(raw_ids), BATCH):
        cond, extra = db.among("raw_request_id", raw_ids[start:start + BATCH])
        for r in await db.fetch(f"SELECT id, reason FROM quarantine WHERE {cond}", extra):
            quarantined.setdefault(r[0], r[1])
    updates = [("UPDATE quarantine SET reason = ? WHERE id = ?", [scrubber.text(reason), qid])
               for qid, reason in quarantined.items()]
    for start in range(0, len(updates), ERASE_BATCH):
        done.quarantine += sum(await db.write(updates[start:start + ERASE_BATCH]))

    # the rejected-requests log: masked requests, but a number is no secret to the masking
    rejected_columns = ("url", "path", "query", "headers", "body", "reason", "message")
    conditions, args = [], []
    for column in rejected_columns:
        cond, extra = db.holds(column, scrubber)
        conditions.append(cond)
        args += extra
    rows = await db.fetch(f"SELECT id, {', '.join(rejected_columns)} FROM rejected_requests "
                          f"WHERE {' OR '.join(conditions)}", args, scrubber)
    updates = [(f"UPDATE rejected_requests SET {', '.join(c + ' = ?' for c in rejected_columns)} WHERE id = ?",
                [*(scrubber.text(v) for v in values), rejected_id]) for rejected_id, *values in rows]
    for start in range(0, len(updates), ERASE_BATCH):
        done.rejected += sum(await db.write(updates[start:start + ERASE_BATCH]))

    # deliveries: their payload is the (now anonymized) event; their last error may quote the number
    delivery_ids: set[str] = set()
    for start in range(0, len(affected_events), BATCH):
        cond, extra = db.among("event_id", affected_events[start:start + BATCH])
        delivery_ids.update(r[0] for r in await db.fetch(f"SELECT id FROM deliveries WHERE {cond}", extra))
    error_holds, error_args = db.holds("last_error", scrubber)
    errors = await db.fetch(f"SELECT id, last_error FROM deliveries WHERE {error_holds}", error_args, scrubber)
    updates = [("UPDATE deliveries SET last_error = ? WHERE id = ?", [scrubber.text(err), did]) for did, err in errors]
    for start in range(0, len(updates), ERASE_BATCH):
        await db.write(updates[start:start + ERASE_BATCH])
    done.deliveries = len(delivery_ids | {did for did, _ in errors})
    errors = await db.fetch(f"SELECT id, last_error FROM subscriptions WHERE {error_holds}", error_args, scrubber)
    if errors:
        done.subscriptions = sum(await db.write([("UPDATE subscriptions SET last_error = ? WHERE id = ?",
                                                  [scrubber.text(err), sid]) for sid, err in errors]))

    counts = done.counts()
    return counts, await audit(store, "erase", actor, counts)


# -- retention ------------------------------------------------------------------------------------
def _expiry(db: _Db, retention: Retention, which: int, now: datetime, table: str = "",
            time_column: str = "received_at") -> tuple[str, list[Any]] | None:
    """A condition on ``connection`` and ``received_at`` (or ``time_column``) of ``table`` (a name or
    alias; none: unqualified): the row is older than its retention."""
    default = (retention.events, retention.raw_requests)[which]
    clauses: list[str] = []
    args: list[Any] = []
    connection, received = (f"{table}.connection", f"{table}.{time_column}") if table else ("connection", time_column)
    special = {name: pair[which] for name, pair in retention.connections.items()}
    for name, keep in sorted(special.items()):
        if keep is not None:
            clauses.append(f"({connection} = ? AND {received} < ?)")
            args += [name, stamp(now - keep)]
    if default is not None:
        if special:
            cond, extra = db.among(connection, sorted(special))
            clauses.append(f"(NOT ({cond}) AND {received} < ?)")
            args += [*extra, stamp(now - default)]
        else:
            clauses.append(f"{received} < ?")
            args.append(stamp(now - default))
    if not clauses:
        return None
    return "(" + " OR ".join(clauses) + ")", args


@dataclass
class Pruned:
    events: int = 0
    messages: int = 0
    deliveries: int = 0
    raw_requests: int = 0
    quarantine: int = 0
    registrations: int = 0

    def counts(self) -> dict[str, int]:
        return {"events": self.events, "messages": self.messages, "deliveries": self.deliveries,
                "raw_requests": self.raw_requests, "quarantine": self.quarantine, "registrations": self.registrations}


# Events whose deliveries are still pending or in flight wait: forwarding them must not fail because
# the event is gone. Their turn comes once delivered or dead-lettered.
_UNFINISHED = ("NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id "
               "AND d.state IN ('pending', 'delivering'))")
# A number's opt-out state is never pruned: per subscriber and sender scope, its latest opt-out or
# opt-in event stays (a pruned STOP must not re-subscribe anyone; an erased number's state is kept in
# erased_optouts instead, so its anonymized events may go).
_OPT = "('optout', 'optin')"


def _current_optout(db: _Db) -> str:
    same = "l.recipient IS events.recipient" if db.engine == "sqlite" else \
        "l.recipient IS NOT DISTINCT FROM events.recipient"
    return (f"NOT (events.type IN {_OPT} AND events.sender IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events l "
            f"WHERE l.type IN {_OPT} AND l.sender = events.sender AND {same} AND l.id > events.id))")


# A message's events, but for the opt-out events kept above: they carry no status.
def _no_events(connection: str, message_ids: str) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM events e WHERE e.connection = {connection} AND e.message_id IN ({message_ids}) "
            f"AND e.type NOT IN {_OPT})")


# A registration's provider ids (its parts, else its own id).
_TRACKED = ("SELECT l.provider_id FROM message_links l WHERE l.connection = registrations.connection "
            "AND l.message_id = registrations.message_id")
# A raw request an open quarantine entry still needs (to be re-processed or dismissed) is kept.
_NEEDED = ("NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.raw_request_id = raw_requests.id "
           "AND q.reprocessed_at IS NULL AND q.dismissed_at IS NULL)")


async def _prune_registrations(db: _Db, retention: Retention, now: datetime, done: Pruned, dry_run: bool,
                               batch: int, pause: Callable[[], Awaitable[None]] | None) -> None:
    """Registrations older than the events retention (by ``registered_at``) whose messages have no
    event left go with their links and their parts' status rows (a part never heard of has one too)."""
    expired = _expiry(db, retention, 0, now, "registrations", "registered_at")
    if expired is None:
        return
    cond, args = expired
    empty = _no_events("registrations.connection", _TRACKED)
    if dry_run:  # what would be left once the expired events are gone
        survivor = _expiry(db, retention, 0, now, "e")
        assert survivor is not None
        alive, alive_args = survivor
        [(n,)] = await db.fetch(
            f"SELECT count(*) FROM registrations WHERE {cond} AND NOT EXISTS (SELECT 1 FROM events e WHERE "
            f"e.connection = registrations.connection AND e.message_id IN ({_TRACKED}) AND e.type NOT IN {_OPT} "
            f"AND NOT {alive})", [*args, *alive_args])
        done.registrations = int(n)
        return
    async def step(rows: list[tuple[Any, ...]]) -> bool:
        statements: list[Statement] = []
        for connection, message_id in rows:
            # the same condition in every statement: a receipt that came meanwhile keeps all of it
            gone = _no_events("registrations.connection", _TRACKED)
            still = f"EXISTS (SELECT 1 FROM registrations WHERE connection = ? AND message_id = ? AND {gone})"
            key = [connection, message_id]
            statements += [
                (f"DELETE FROM messages WHERE connection = ? AND message_id IN (SELECT provider_id FROM message_links "
                 f"WHERE connection = ? AND message_id = ?) AND {still}", [connection, *key, *key]),
                (f"DELETE FROM message_links WHERE connection = ? AND message_id = ? AND {still}", [*key, *key]),
                (f"DELETE FROM registrations WHERE connection = ? AND message_id = ? AND {gone}", key),
            ]
        counts = await db.write(statements)
        done.messages += sum(counts[0::3])
        done.registrations += sum(counts[2::3])
        return any(counts[2::3])

    await _in_batches(db, f"SELECT connection, message_id FROM registrations WHERE {cond} AND {empty}", args,
                      batch, pause, step)


async def _in_batches(db: _Db, select: str, args: list[Any], batch: int,
                      pause: Callable[[], Awaitable[None]] | None,
                      step: Callable[[list[tuple[Any, ...]]], Awaitable[bool]]) -> None:
    """Delete in short transactions: ``select`` (no LIMIT) names up to ``batch`` candidates at a time,
    ``step`` deletes them and says whether it deleted any (when not, the rest is kept for a reason
    that came meanwhile: stop); ``pause`` is awaited between batches."""
    while True:
        rows = await db.fetch(f"{select} LIMIT ?", [*args, batch])
        if not rows or not await step(rows):
            return
        if pause is not None:
            await pause()


async def prune(store: Store, retention: Retention, *, dry_run: bool = False, now: datetime | None = None,
                batch: int = BATCH, pause: Callable[[], Awaitable[None]] | None = None,
                actor: str | None = None) -> dict[str, int]:
    """Delete what is older than its retention, ``batch`` rows per short transaction (``pause`` is
    awaited between batches: the background pruner yields there). Events take their deliveries with
    them, and a message's status row goes with its last event; raw requests take the resolved
    quarantine entries that showed them. A registration (``POST /v1/messages``) goes, with its parts'
    links and status rows, once it is older than the events retention and none of its messages' events
    is left. The opt-out state of a number is kept (its latest opt-out / opt-in per sender scope).
    ``dry_run``: only count. Returns the counts (and, when something was deleted, keeps an audit row)."""
    db = _Db(store)
    now = now or datetime.now(UTC)
    done = Pruned()
    expired = _expiry(db, retention, 0, now)
    if expired is not None:
        cond, args = expired
        prunable = f"{cond} AND {_UNFINISHED} AND {_current_optout(db)}"
        if dry_run:
            [(n,)] = await db.fetch(f"SELECT count(*) FROM events WHERE {prunable}", args)
            done.events = int(n)
            [(n,)] = await db.fetch(f"SELECT count(*) FROM deliveries WHERE event_id IN (SELECT id FROM events "
                                    f"WHERE {prunable})", args)
            done.deliveries = int(n)
        else:
            async def events_step(rows: list[tuple[Any, ...]]) -> bool:
                ids = [r[0] for r in rows]
                in_ids, id_args = db.among("event_id", ids)
                in_events, event_args = db.among("id", ids)
                messages = sorted({(r[1], r[2]) for r in rows if r[2] is not None})
                statements: list[Statement] = [
                    (f"DELETE FROM deliveries WHERE {in_ids} AND state NOT IN ('pending', 'delivering')", id_args),
                    (f"DELETE FROM events WHERE {in_events} AND {_UNFINISHED} AND {_current_optout(db)}", event_args),
                ]
                # a registered message's status rows go with its registration (_prune_registrations)
                statements += [("DELETE FROM messages WHERE connection = ? AND message_id = ? AND "
                                + _no_events("messages.connection", "messages.message_id")
                                + " AND NOT EXISTS (SELECT 1 FROM message_links k WHERE k.connection = "
                                "messages.connection AND k.provider_id = messages.message_id)", [c, m])
                               for c, m in messages]
                counts = await db.write(statements)
                done.deliveries += counts[0]
                done.events += counts[1]
                done.messages += sum(counts[2:])
                return counts[1] > 0  # else every candidate gained an unfinished delivery meanwhile

            await _in_batches(db, f"SELECT id, connection, message_id FROM events WHERE {prunable}", args, batch,
                              pause, events_step)
        await _prune_registrations(db, retention, now, done, dry_run, batch, pause)
    expired = _expiry(db, retention, 1, now)
    if expired is not None:
        cond, args = expired
        if dry_run:
            [(n,)] = await db.fetch(f"SELECT count(*) FROM raw_requests WHERE {cond} AND {_NEEDED}", args)
            done.raw_requests = int(n)
            [(n,)] = await db.fetch("SELECT count(*) FROM quarantine WHERE raw_request_id IN (SELECT id FROM "
                                    f"raw_requests WHERE {cond} AND {_NEEDED})", args)
            done.quarantine = int(n)
        else:
            async def raw_step(rows: list[tuple[Any, ...]]) -> bool:
                ids = [r[0] for r in rows]
                in_raw, raw_args = db.among("raw_request_id", ids)
                in_ids, id_args = db.among("id", ids)
                counts = await db.write([
                    (f"DELETE FROM quarantine WHERE {in_raw} AND (reprocessed_at IS NOT NULL "
                     "OR dismissed_at IS NOT NULL)", raw_args),
                    (f"DELETE FROM raw_requests WHERE {in_ids} AND {_NEEDED}", id_args),
                ])
                done.quarantine += counts[0]
                done.raw_requests += counts[1]
                return counts[1] > 0

            await _in_batches(db, f"SELECT id FROM raw_requests WHERE {cond} AND {_NEEDED}", args, batch, pause,
                              raw_step)
    totals = done.counts()
    if not dry_run and any(totals.values()):
        await audit(store, "prune", actor, totals)
    return totals
