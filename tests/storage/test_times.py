"""Fixed-width stored times on every backend (issue 12): migration 0009 converts times an older smshook
stored without milliseconds (``…12:00:00Z``) so that text comparison is time comparison again, and the
statistics select their window exactly (no one-second margin any more)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from smshook.events import Event, finalize, iso, shown, stamp, uuid7
from smshook.storage import EventQuery, RawRecord, Store, make_store, postgres, schema, sqlite
from smshook.storage.sqlite import event_row, raw_row
from tests.storage.test_migrations import migrate

T = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def test_stamp_is_fixed_width_and_shown_is_the_display_form() -> None:
    for value in (T, T + 123 * MS, T + timedelta(microseconds=999), datetime(1, 1, 1, tzinfo=UTC),
                  datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)):
        text = stamp(value) or ""
        assert len(text) == 24 and text.endswith("Z"), text
        # what the API showed before (sub-millisecond digits are cut, then `.000` left out)
        assert shown(text) == iso(value.replace(microsecond=value.microsecond // 1000 * 1000))
    assert stamp(T) == "2026-12-03T12:00:00.000Z" and stamp(T + timedelta(microseconds=123999)) == \
        "2026-12-03T12:00:00.123Z"
    ordered = sorted([T + 123 * MS, T, T - MS, T + timedelta(seconds=1)])
    assert sorted(stamp(v) or "" for v in ordered) == [stamp(v) for v in ordered]  # text order is time order
    assert stamp(None) is None and shown(None) is None


# -- statistics ------------------------------------------------------------------------------------


def raw_at(at: datetime, body: bytes) -> RawRecord:
    return RawRecord(uuid7(), "csoft", "csoft", "POST", "/hooks/csoft", "", (), body, "127.0.0.1", stamp(at) or "")


async def put(store: Store, at: datetime, event: Event) -> None:
    finalize([event], "csoft", "csoft", at)
    await store.append(raw_at(at, event.message_id.encode() if event.message_id else b"in"), [event])


async def test_stats_window_is_exact_to_the_millisecond(store: Store) -> None:
    end = T + timedelta(hours=1)
    starts = [(f"bucket-{k}", T + timedelta(minutes=10 * k)) for k in range(6)]  # each bucket's first instant
    for name, at in (("before", T - MS), *starts, ("edge", T + timedelta(minutes=10) - MS), ("last", end - MS),
                     ("after", end)):
        await put(store, at, Event(type="status", message_id=name, status="delivered", provider_status="0"))
        await put(store, at, Event(type="inbound", message_id=f"in-{name}", from_="1", to="2", text=name))
    result = await store.stats(iso(T) or "", iso(end) or "", 600)
    [csoft] = result["connections"]
    assert csoft["messages"] == 8  # not 11:59:59.999 nor 13:00:00.000
    assert [p["messages"] for p in csoft["series"]] == [2, 1, 1, 1, 1, 2]  # a bucket's start is in that bucket
    assert result["inbound"] == {"csoft": 8}


# -- migration 0009 --------------------------------------------------------------------------------

OLD = "2026-12-03T12:00:00Z"  # an older smshook's iso(): no milliseconds when they are zero
OLD_LATE = "2026-12-03T12:00:00.750Z"
MESSAGES = ("INSERT INTO messages (connection, message_id, status, occurred_at, conflict, updated_at, synthetic, "
            "first_seen, sent_at) VALUES ('csoft', 'm-old', 'delivered', ?, {false}, ?, 0, ?, ?)")
QUARANTINE = ("INSERT INTO quarantine (id, digest, connection, provider, reason, http_status, attempts, first_seen, "
              "last_seen, raw_request_id) VALUES (?, ?, 'csoft', 'csoft', 'unreadable', 400, 1, ?, ?, ?)")
TIME_COLUMNS = {"raw_requests": ["received_at"], "events": ["occurred_at", "received_at"],
                "messages": ["occurred_at", "updated_at", "first_seen", "sent_at"],
                "quarantine": ["first_seen", "last_seen"]}


def old_rows() -> tuple[list[tuple[RawRecord, Event, str]], list[Any]]:
    """Two requests with an event each, written as an older smshook wrote them, and a quarantine row."""
    rows = []
    for received, body in ((OLD, b"whole"), (OLD_LATE, b"late")):
        request = RawRecord(uuid7(), "csoft", "csoft", "POST", "/hooks/csoft", "", (), body, None, received)
        event = Event(type="status", message_id=f"m-{body.decode()}", status="delivered", provider_status="0",
                      occurred_at=T)
        finalize([event], "csoft", "csoft", datetime.fromisoformat(received.replace("Z", "+00:00")))
        rows.append((request, event, received))
    quarantine = [uuid7(), b"\x01" * 16, OLD, OLD, rows[0][0].id]
    return rows, quarantine


def event_values(event: Event, raw_id: str, received: str) -> tuple[Any, ...]:
    values = list(event_row(event, raw_id, "applied"))
    values[15], values[16] = OLD, received  # occurred_at, received_at as iso() wrote them
    return tuple(values)


def sqlite_at_version_8(path: Path) -> str:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE {schema.TABLE} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for migration in schema.migrations("sqlite"):
        if migration.version <= 8:
            for statement in migration.statements():
                conn.execute(statement)
            conn.execute(f"INSERT INTO {schema.TABLE} VALUES (?, datetime('now'))", (migration.version,))
    rows, quarantine = old_rows()
    for request, event, received in rows:
        conn.execute(sqlite.INSERT_RAW, raw_row(request, 1, 0))
        conn.execute(sqlite.INSERT_EVENT, event_values(event, request.id, received))
    conn.execute(MESSAGES.format(false=0), (OLD, OLD, OLD, OLD))
    conn.execute(QUARANTINE, quarantine)
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def numbered(sql: str) -> str:
    counter = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


async def postgres_at_version_8(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(f"CREATE TABLE {schema.TABLE} (version integer PRIMARY KEY, "
                               "applied_at timestamptz NOT NULL DEFAULT now())")
            for migration in schema.migrations("postgresql"):
                if migration.version <= 8:
                    await conn.execute(migration.sql)
                    await conn.execute(f"INSERT INTO {schema.TABLE} (version) VALUES ($1)", migration.version)
            rows, quarantine = old_rows()
            for request, event, received in rows:
                await conn.execute(postgres.INSERT_RAW, *raw_row(request, 1, 0))
                await conn.execute(postgres.INSERT_EVENT, *event_values(event, request.id, received))
            await conn.execute(numbered(MESSAGES.format(false="false")), OLD, OLD, OLD, OLD)
            await conn.execute(numbered(QUARANTINE), *quarantine)
    finally:
        await conn.close()
    return url


async def widths(url: str) -> dict[str, set[int]]:
    """The lengths of every time stored in TIME_COLUMNS, per column."""
    found: dict[str, set[int]] = {}

    def record(table: str, column: str, values: Sequence[Any]) -> None:
        found[f"{table}.{column}"] = {len(v) for v in values if v is not None}

    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            for table, columns in TIME_COLUMNS.items():
                for column in columns:
                    record(table, column, [r[0] for r in conn.execute(f"SELECT {column} FROM {table}")])
        finally:
            conn.close()
        return found
    pg = await asyncpg.connect(url)
    try:
        for table, columns in TIME_COLUMNS.items():
            for column in columns:
                record(table, column, [r[0] for r in await pg.fetch(f"SELECT {column} FROM {table}")])
    finally:
        await pg.close()
    return found


@pytest.mark.usefixtures("clean_env")
def test_migration_0009_makes_old_times_fixed_width(backend: str, request: pytest.FixtureRequest,
                                                   tmp_path: Path) -> None:
    if backend == "postgresql":
        url = asyncio.run(postgres_at_version_8(request.getfixturevalue("postgres_database")))
    else:
        url = sqlite_at_version_8(tmp_path / "old.db")
    before = asyncio.run(widths(url))
    assert before["events.received_at"] == {20, 24} and before["quarantine.first_seen"] == {20}
    assert "applied 0009_fixed_width_times.sql" in migrate(url)
    after = asyncio.run(widths(url))
    assert after == {column: {24} for column in before}, after

    async def check() -> None:
        store = make_store(url, auto_migrate=False)
        await store.open()
        try:
            def since(value: str) -> EventQuery:
                return EventQuery(since=value)

            # 12:00:00Z is before 12:00:00.500: an old row written without milliseconds compared as text
            # the wrong way round before the migration (``…00Z`` > ``…00.500Z``)
            half = stamp(T + 500 * MS)
            assert [e["message_id"] for e in await store.events(since(half or ""))] == ["m-late"]
            assert [e["message_id"] for e in await store.events(EventQuery(until=half))] == ["m-whole"]
            assert {e["received_at"] for e in await store.events(EventQuery())} == {OLD, OLD_LATE}  # shown as before
            [entry] = await store.quarantined(since=stamp(T))
            assert entry["first_seen"] == "2026-12-03T12:00:00.000Z"
            assert await store.quarantined(since=half) == []
            message = await store.message("csoft", "m-old")
            assert message is not None and message["updated_at"] == "2026-12-03T12:00:00.000Z"
        finally:
            await store.close()

    asyncio.run(check())
