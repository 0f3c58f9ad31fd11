"""Versioned migrations on every backend: a database made by an older smshook (schema version 1,
with data) is upgraded in place by `smshook migrate`, its data kept; an outdated schema is refused
when automatic migration is off."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner

from smshook.cli import main
from smshook.errors import StoreError
from smshook.events import Event
from smshook.storage import EventQuery, RawRecord, make_store, postgres, schema, sqlite
from smshook.storage.base import Store
from smshook.storage.sqlite import event_row, raw_row
from tests.storage.test_store import inbound, raw, status


def version_1(dialect: str) -> schema.Migration:
    [first] = [m for m in schema.migrations(dialect) if m.version == 1]
    return first


def sqlite_at_version_1(path: Path, request: RawRecord, events: list[Event]) -> str:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE {schema.TABLE} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for statement in version_1("sqlite").statements():
        conn.execute(statement)
    conn.execute(f"INSERT INTO {schema.TABLE} VALUES (1, datetime('now'))")
    conn.execute(sqlite.INSERT_RAW, raw_row(request, len(events), 0))
    conn.executemany(sqlite.INSERT_EVENT, [event_row(e, request.id, "applied") for e in events])
    conn.execute("INSERT INTO messages VALUES ('csoft', 'm1', 'delivered', NULL, 0, '2026-03-01T12:00:00Z')")
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


async def postgres_at_version_1(url: str, request: RawRecord, events: list[Event]) -> str:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(f"CREATE TABLE {schema.TABLE} (version integer PRIMARY KEY, "
                               "applied_at timestamptz NOT NULL DEFAULT now())")
            await conn.execute(version_1("postgresql").sql)
            await conn.execute(f"INSERT INTO {schema.TABLE} (version) VALUES (1)")
            await conn.execute(postgres.INSERT_RAW, *raw_row(request, len(events), 0))
            for e in events:
                await conn.execute(postgres.INSERT_EVENT, *event_row(e, request.id, "applied"))
            await conn.execute("INSERT INTO messages VALUES ('csoft', 'm1', 'delivered', NULL, false, "
                               "'2026-03-01T12:00:00Z')")
    finally:
        await conn.close()
    return url


def old_database_url(backend: str, postgres_url: str, tmp_path: Path, events: list[Event]) -> str:
    """A database as smshook's schema version 1 left it, holding ``events``."""
    if backend == "postgresql":
        return asyncio.run(postgres_at_version_1(postgres_url, raw(), events))
    return sqlite_at_version_1(tmp_path / "old.db", raw(), events)


def old_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path, events: list[Event]) -> str:
    pg = request.getfixturevalue("postgres_database") if backend == "postgresql" else ""
    return old_database_url(backend, pg, tmp_path, events)


def migrate(url: str) -> str:
    result = CliRunner().invoke(main, ["migrate", "--database", url])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.usefixtures("clean_env")
def test_upgrading_a_version_1_database_keeps_its_data(backend: str, request: pytest.FixtureRequest,
                                                       tmp_path: Path) -> None:
    events = [status("m1", "delivered"), inbound("STOP")]
    url = old_database(backend, request, tmp_path, events)
    later = [m.name for m in schema.migrations(backend) if m.version > 1]
    output = migrate(url)
    assert [line for line in output.splitlines() if line.startswith("applied ")] == [f"applied {n}" for n in later]
    assert "nothing to apply" in migrate(url)  # each file is applied once

    async def check(store: Store) -> None:
        await store.open()
        try:
            rows = await store.events(EventQuery())
            assert {r["id"] for r in rows} == {e.id for e in events}
            message = await store.message("csoft", "m1")
            assert message is not None and message["status"] == "delivered"
            assert await store.subscriptions() == []  # the forwarding tables exist now
            await store.append(raw(), [status("m1", "read", 5)])
            message = await store.message("csoft", "m1")
            assert message is not None and message["status"] == "read" and len(message["events"]) == 2
        finally:
            await store.close()

    asyncio.run(check(make_store(url, auto_migrate=False)))


@pytest.mark.usefixtures("clean_env")
def test_an_outdated_schema_is_refused_when_auto_migrate_is_off(backend: str, request: pytest.FixtureRequest,
                                                                tmp_path: Path) -> None:
    url = old_database(backend, request, tmp_path, [status("m1", "sent")])
    with pytest.raises(StoreError, match=r"not up to date \(pending: 0002_forwarding\.sql.*smshook migrate"):
        asyncio.run(make_store(url, auto_migrate=False).open())


def test_both_backends_have_the_same_logical_schema(postgres_database: str, tmp_path: Path) -> None:
    """Every table and column exists on both; PostgreSQL only adds the live feed's commit-order numbering."""
    assert [m.name for m in schema.migrations("sqlite")] == [m.name for m in schema.migrations("postgresql")]
    asyncio.run(make_store(f"sqlite:///{tmp_path / 's.db'}").upgrade())
    asyncio.run(make_store(postgres_database).upgrade())
    conn = sqlite3.connect(tmp_path / "s.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    lite = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}
    conn.close()

    async def columns() -> dict[str, set[str]]:
        pg = await asyncpg.connect(postgres_database)
        try:
            rows = await pg.fetch("SELECT table_name, column_name FROM information_schema.columns "
                                  "WHERE table_schema = 'public'")
        finally:
            await pg.close()
        out: dict[str, set[str]] = {}
        for r in rows:
            out.setdefault(r[0], set()).add(r[1])
        return out

    pg = asyncio.run(columns())
    assert pg.pop("feed_counter") == {"id", "last"}
    pg["events"].remove("feed_pos")
    assert pg == lite
