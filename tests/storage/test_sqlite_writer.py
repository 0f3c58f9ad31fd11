"""The SQLite writer's fast path: a batch's rows are planned in Python and written together (one
multi-row INSERT per table); when that fails the batch is redone job by job so that only the culprit
fails; WAL checkpoints run off the commit path and the WAL still starts over; processes sharing the
file take turns through a lock file."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from pathlib import Path

import pytest

from smshook.errors import StoreError
from smshook.forwarding.model import Filters, Subscription
from smshook.storage import EventQuery
from smshook.storage import sqlite as sqlite_module
from smshook.storage.sqlite import SQLiteStore
from tests.storage.test_store import inbound, raw, status


@pytest.fixture
async def store(tmp_path: Path) -> SQLiteStore:
    opened = SQLiteStore(tmp_path / "smshook.db")
    await opened.open()
    yield opened  # type: ignore[misc]
    await opened.close()


def count(store: SQLiteStore, table: str) -> int:
    with sqlite3.connect(store.path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_a_batch_is_one_commit_with_every_row(store: SQLiteStore) -> None:
    n = 200
    bulk = [status(f"b{i}", "delivered", to="447700912345") for i in range(300)]
    results = await asyncio.gather(
        *(store.append(raw(), [status(f"s{i}", "sent")]) for i in range(n)),
        store.append(raw(), bulk), store.append(raw(), [inbound("HELLO")]))
    assert all(all(r.new) for r in results)
    assert store.commits < n
    assert count(store, "events") == n + 300 + 1
    assert count(store, "raw_requests") == n + 2
    assert count(store, "messages") == n + 300
    message = await store.message("csoft", "b299")
    assert message is not None and message["status"] == "delivered" and message["events"][0] == bulk[-1].to_public()


async def test_several_events_of_one_message_in_one_batch_follow_the_status_rules(store: SQLiteStore) -> None:
    events = [status("m1", "sent", 0), status("m1", "delivered", 2), status("m1", "undelivered", 3)]
    results = await asyncio.gather(*(store.append(raw(), [e]) for e in events),
                                   store.append(raw(), [status("m1", "sent", 0)]))  # a retry of the first
    assert [r.new for r in results] == [(True,), (True,), (True,), (False,)]
    message = await store.message("csoft", "m1")
    assert message is not None
    assert message["status"] == "delivered" and message["conflict"]  # first final wins, the other is flagged
    assert list(message["effects"].values()) == ["applied", "applied", "conflict"]


async def test_rows_that_cannot_be_written_fail_only_their_own_request(store: SQLiteStore) -> None:
    taken = raw()
    await store.append(taken, [status("first", "sent")])
    # Same raw request id again: planning succeeds, writing the batch's rows fails (primary key).
    results = await asyncio.gather(
        *(store.append(raw(), [status(f"ok{i}", "sent")]) for i in range(5)),
        store.append(taken, [status("second", "delivered")]),
        *(store.append(raw(), [status(f"ok{i}", "delivered", 1)]) for i in range(5, 10)),
        return_exceptions=True)
    assert isinstance(results[5], StoreError)
    assert all(not isinstance(r, BaseException) and r.new == (True,) for i, r in enumerate(results) if i != 5)
    assert await store.message("csoft", "second") is None  # nothing of the failed request was kept
    assert len(await store.events(EventQuery(limit=100))) == 11
    assert count(store, "raw_requests") == 11
    # The failed request's event is not "known": sent again with a fresh raw id, it is stored.
    again = await store.append(raw(), [status("second", "delivered")])
    assert again.new == (True,)


async def test_a_bad_request_after_planning_rows_fails_alone(store: SQLiteStore,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    original = sqlite_module.raw_row

    def raw_row(record, new, duplicates):  # type: ignore[no-untyped-def]
        if record.body == b"boom":
            raise ValueError("cannot encode")
        return original(record, new, duplicates)

    monkeypatch.setattr(sqlite_module, "raw_row", raw_row)
    results = await asyncio.gather(
        store.append(raw(), [status("a", "sent")]), store.append(raw(body=b"boom"), [status("b", "sent")]),
        store.append(raw(), [status("c", "sent")]), return_exceptions=True)
    assert isinstance(results[1], StoreError)
    assert {e["message_id"] for e in await store.events(EventQuery())} == {"a", "c"}
    assert count(store, "messages") == 2


async def test_quarantine_and_subscription_jobs_in_the_same_batch_as_appends(store: SQLiteStore) -> None:
    sub = Subscription(id="all", kind="webhook", target="http://127.0.0.1:9/", stream=None, secrets=("whsec_x",),
                       filters=Filters())
    results = await asyncio.gather(
        store.append(raw(), [status("before", "sent")]),
        store.put_subscription(sub),
        store.quarantine(raw(body=b"junk"), "body is not a form", 400),
        store.append(raw(), [status("after", "sent")]))
    assert not any(isinstance(r, BaseException) for r in results)
    assert count(store, "quarantine") == 1 and count(store, "events") == 2
    with sqlite3.connect(store.path) as conn:  # the outbox row exists for the event after the subscription
        queued = {r[0] for r in conn.execute(
            "SELECT e.message_id FROM deliveries d JOIN events e ON e.id = d.event_id")}
    assert "after" in queued


async def test_the_wal_starts_over_although_checkpoints_run_beside_commits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_INTERVAL", 0.01)
    monkeypatch.setattr(sqlite_module, "WAL_RESTART_PAGES", 50)
    store = SQLiteStore(tmp_path / "smshook.db")
    await store.open()
    try:
        for wave in range(40):  # about 40 commits of 100 events: ~1000 WAL pages if it never started over
            events = [status(f"w{wave}m{i}", "sent", details={"pad": "x" * 200}) for i in range(100)]
            await asyncio.gather(*(store.append(raw(), [e]) for e in events))
            await asyncio.sleep(0.005)
        wal = Path(store.path + "-wal").stat().st_size  # noqa: ASYNC240 (a test, no event loop to keep free)
        assert count(store, "events") == 4000
    finally:
        await store.close()
    assert wal < 600 * 4096, f"the WAL grew to {wal} bytes"


def test_null_and_blob_parameters_are_stored_unchanged(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.execute("CREATE TABLE t (a, b)")
    conn.execute("INSERT INTO t VALUES (?, ?)", (None, b"\x00\xff"))
    assert conn.execute("SELECT a, b, typeof(a), typeof(b) FROM t").fetchone() == (None, b"\x00\xff", "null", "blob")


async def test_a_new_database_is_readable_by_its_owner_only(store: SQLiteStore) -> None:
    await store.append(raw(), [inbound("HELLO")])
    for name in ("smshook.db", "smshook.db-wal", "smshook.db-lock"):
        assert (Path(store.path).parent / name).stat().st_mode & 0o777 == 0o600, name


async def test_a_store_waits_for_its_turn_then_commits_what_queued_meanwhile(store: SQLiteStore) -> None:
    """Processes on one file take turns through the lock file (serve --workers N, the CLI)."""
    other = os.open(store.path + "-lock", os.O_RDWR)
    fcntl.flock(other, fcntl.LOCK_EX)  # another process's turn
    try:
        commits = store.commits
        pending = [asyncio.ensure_future(store.append(raw(), [status(f"t{i}", "sent")])) for i in range(50)]
        await asyncio.sleep(0.3)
        assert not any(p.done() for p in pending) and store.commits == commits
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    results = await asyncio.wait_for(asyncio.gather(*pending), 10)
    assert all(r.new == (True,) for r in results)
    assert store.commits == commits + 1  # all 50 in the batch that had waited for the turn
    assert count(store, "events") == 50
