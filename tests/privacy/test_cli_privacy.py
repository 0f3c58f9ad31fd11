"""`smshook erase`, `smshook prune [--dry-run]`, `smshook dismiss` and doctor's open-quarantine count,
on every backend; and the background pruner while callbacks keep arriving."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from smshook.cli import main
from smshook.privacy import Retention
from smshook.pruner import Pruner
from smshook.storage import EventQuery, Store
from smshook.storage.postgres import PostgresStore
from smshook.storage.sqlite import SQLiteStore
from tests.privacy.test_store_privacy import raw_at
from tests.storage.test_store import inbound, raw, status

pytestmark = pytest.mark.usefixtures("clean_env")


def url_of(store: Store) -> str:
    if isinstance(store, SQLiteStore):
        return f"sqlite:///{store.path}"
    assert isinstance(store, PostgresStore)
    return store.url


def cli(*args: str) -> tuple[int, str]:
    """(exit code, stdout) on success — commands name the database on stderr — else all output."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


async def test_erase_prune_and_dismiss_from_the_command_line(store: Store, tmp_path: Path) -> None:
    database = url_of(store)
    old = datetime.now(UTC) - timedelta(days=60)
    await store.append(raw(body=b"ReplyTo=%2B447700900123"), [inbound("hi", sender="447700900123")])
    await store.append(raw_at(old, body=b"old"), [replace(status("old", "delivered"), received_at=old)])
    qid = await store.quarantine(raw(body=b"junk"), "unreadable", 400)

    code, out = await asyncio.to_thread(cli, "erase", "00 44 7700-900-123", "--database", database, "--json")
    assert code == 0, out
    erased = json.loads(out)["erased"]
    assert erased["events"] == 1 and erased["raw_requests"] == 1
    code, out = await asyncio.to_thread(cli, "erase", "nope", "--database", database)
    assert code != 0 and "PHONE" in out

    config = tmp_path / "smshook.toml"
    config.write_text('[retention]\nevents = "30d"\nraw_requests = "30d"\n')
    code, out = await asyncio.to_thread(cli, "prune", "--dry-run", "--config", str(config), "--database", database)
    assert code == 0 and "would delete: 1 events" in out and "1 raw_requests" in out, out
    assert len(await store.events(EventQuery())) == 2
    code, out = await asyncio.to_thread(cli, "prune", "--config", str(config), "--database", database, "--json")
    assert code == 0 and json.loads(out)["pruned"]["events"] == 1, out
    assert [e["message_id"] for e in await store.events(EventQuery())] == [None]
    code, out = await asyncio.to_thread(cli, "prune", "--database", database)
    assert code == 0 and "kept for ever" in out

    code, out = await asyncio.to_thread(cli, "doctor", "--database", database, "--json")
    assert "1 request(s) could not be read" in out, out
    code, out = await asyncio.to_thread(cli, "dismiss", qid, "--why", "test traffic", "--who", "ops",
                                        "--database", database)
    assert code == 0 and f"{qid}: dismissed by ops" in out, out
    code, out = await asyncio.to_thread(cli, "dismiss", qid, "--why", "again", "--database", database)
    assert code != 0 and "dismissed already" in out
    code, out = await asyncio.to_thread(cli, "doctor", "--database", database, "--json")
    assert "could not be read" not in out and '"empty"' in out, out


def test_retention_settings_are_validated(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[retention]\nevents = "30 days"\n')
    code, out = cli("config", "check", "--config", str(config))
    assert code != 0 and "retention.events" in out and "not a duration" in out
    config.write_text('[retention]\nevents = "30d"\n[connections.shop]\nprovider = "csoft"\n'
                      '[connections.shop.retention]\nraw_requests = "7d"\n')
    code, out = cli("config", "check", "--config", str(config))
    assert code == 0, out
    from smshook.settings import load_settings

    plan = load_settings(config).retention_plan()
    assert plan.events == timedelta(days=30) and plan.connections["shop"] == (timedelta(days=30), timedelta(days=7))


async def test_background_pruner_does_not_hold_up_ingestion(store: Store) -> None:
    old = datetime.now(UTC) - timedelta(days=90)
    for start in range(0, 3000, 500):
        events = [replace(status(f"old{i}", "delivered"), received_at=old) for i in range(start, start + 500)]
        await store.append(raw_at(old, body=f"batch{start}".encode()), events)
    pruner = Pruner(store, Retention(events=timedelta(days=30), raw_requests=timedelta(days=30)), 3600, batch=200)
    latencies: list[float] = []
    pruner.start()
    try:
        deadline = time.monotonic() + 60
        i = 0
        while pruner.runs == 0 and time.monotonic() < deadline:
            started = time.perf_counter()
            await store.append(raw(body=f"new{i}".encode()), [status(f"new{i}", "sent")])
            latencies.append(time.perf_counter() - started)
            i += 1
    finally:
        await pruner.stop()
    assert pruner.runs == 1
    messages = {e["message_id"] for e in await store.events(EventQuery(limit=i + 10))}
    assert messages == {f"new{n}" for n in range(i)}
    worst = max(latencies)
    print(f"{type(store).__name__}: {len(latencies)} appends during pruning of 3000 events, "
          f"median {statistics.median(latencies) * 1000:.1f} ms, max {worst * 1000:.1f} ms")
    assert worst < 1.0
