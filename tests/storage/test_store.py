"""One behavioural suite for every storage backend (see conftest.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smshook.errors import StoreError
from smshook.events import Event, finalize, iso, uuid7
from smshook.storage import EventQuery, RawRecord, Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def raw(connection: str = "csoft", body: bytes = b"x", query: str = "") -> RawRecord:
    return RawRecord(uuid7(), connection, "csoft", "POST", f"/hooks/{connection}", query,
                     (("content-type", "text/plain"),), body, "127.0.0.1", iso(datetime.now(UTC)) or "")


def status(message_id: str, state: str, minutes: int | None = 0, connection: str = "csoft", **kw: Any) -> Event:
    when = T0 + timedelta(minutes=minutes) if minutes is not None else None
    event = Event(type="status", message_id=message_id, status=state, provider_status=state, occurred_at=when, **kw)
    return finalize([event], connection, "csoft", datetime.now(UTC))[0]


def inbound(text: str, sender: str = "447700900001", reply_to: str | None = None) -> Event:
    event = Event(type="inbound", from_=sender, to="12345", text=text, occurred_at=T0, reply_to=reply_to)
    return finalize([event], "csoft", "csoft", datetime.now(UTC))[0]


async def test_append_and_read_back(store: Store) -> None:
    event = status("m1", "delivered", details={"Report": "0"}, to="447700912345")
    result = await store.append(raw(), [event])
    assert result.new == (True,)
    [row] = (await store.events(EventQuery()))
    assert row == event.to_public()


async def test_retry_is_not_stored_twice(store: Store) -> None:
    first = status("m1", "delivered")
    again = status("m1", "delivered")  # same provider data, new smshook id: a retry
    assert first.key == again.key and first.id != again.id
    assert (await store.append(raw(), [first])).new == (True,)
    result = await store.append(raw(), [again])
    assert result.new == (False,) and result.duplicates == 1
    assert len(await store.events(EventQuery())) == 1


async def test_duplicates_inside_one_request_and_across_concurrent_requests(store: Store) -> None:
    events = [status("m1", "sent"), status("m1", "sent")]
    assert (await store.append(raw(), events)).new == (True, False)
    results = await asyncio.gather(*(store.append(raw(), [status("m2", "delivered")]) for _ in range(20)))
    assert sum(r.new_count for r in results) == 1
    assert len(await store.events(EventQuery(message_id="m2"))) == 1


async def test_status_projection_whatever_the_order(store: Store) -> None:
    await store.append(raw(), [status("m1", "delivered", 5)])
    await store.append(raw(), [status("m1", "sent", 1)])
    message = await store.message("csoft", "m1")
    assert message is not None
    assert message["status"] == "delivered" and message["final"] and not message["conflict"]
    assert [e["status"] for e in message["events"]] == ["delivered", "sent"]
    assert list(message["effects"].values()) == ["applied", "late"]


async def test_conflicting_finals_are_flagged_and_kept(store: Store) -> None:
    await store.append(raw(), [status("m1", "undelivered", 1)])
    await store.append(raw(), [status("m1", "delivered", 2)])
    message = await store.message("csoft", "m1")
    assert message is not None
    assert message["status"] == "undelivered" and message["conflict"]
    assert len(message["events"]) == 2


async def test_delivered_then_read(store: Store) -> None:
    await store.append(raw(), [status("m1", "delivered", 1), status("m1", "read", 2)])
    message = await store.message("csoft", "m1")
    assert message is not None and message["status"] == "read" and not message["conflict"]


async def test_reply_shows_in_the_message_timeline(store: Store) -> None:
    await store.append(raw(), [status("m1", "delivered", 1)])
    await store.append(raw(), [inbound("YES please", reply_to="m1")])
    message = await store.message("csoft", "m1")
    assert message is not None
    assert [e["type"] for e in message["events"]] == ["status", "inbound"]
    assert await store.message("csoft", "nope") is None


async def test_same_message_id_on_two_connections_is_two_messages(store: Store) -> None:
    await store.append(raw(), [status("m1", "delivered", connection="a")])
    await store.append(raw(), [status("m1", "undelivered", connection="b")])
    a, b = await store.message("a", "m1"), await store.message("b", "m1")
    assert a and b and a["status"] == "delivered" and b["status"] == "undelivered"
    assert not a["conflict"] and not b["conflict"]


async def test_group_commit_shares_transactions(store: Store) -> None:
    n = 300
    results = await asyncio.gather(*(store.append(raw(), [status(f"g{i}", "sent")]) for i in range(n)))
    assert all(r.new == (True,) for r in results)
    assert len(await store.events(EventQuery(limit=1000))) == n
    commits = getattr(store, "commits", None)
    if commits is not None:
        assert commits < n, "every request paid its own commit: no group commit"


async def test_one_bad_request_does_not_fail_its_neighbours(store: Store) -> None:
    bad = status("bad", "sent", details={"x": object()})  # not JSON-serialisable
    good = [store.append(raw(), [status(f"ok{i}", "sent")]) for i in range(5)]
    results = await asyncio.gather(store.append(raw(), [bad]), *good, return_exceptions=True)
    assert isinstance(results[0], StoreError)
    assert all(not isinstance(r, BaseException) for r in results[1:])
    assert len(await store.events(EventQuery())) == 5


async def test_filters_and_cursor(store: Store) -> None:
    for i in range(7):
        await store.append(raw(), [status(f"f{i}", "delivered" if i % 2 else "sent")])
    await store.append(raw(), [inbound("STOP")])
    everything = await store.events(EventQuery(limit=100))
    assert len(everything) == 8
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert len(await store.events(EventQuery(status="delivered"))) == 3
    assert len(await store.events(EventQuery(type="inbound"))) == 1
    assert len(await store.events(EventQuery(connection="other"))) == 0
    page = await store.events(EventQuery(limit=3))
    rest = await store.events(EventQuery(limit=100, before=page[-1]["id"]))
    assert [e["id"] for e in page + rest] == [e["id"] for e in everything]
    future = iso(datetime.now(UTC) + timedelta(hours=1))
    assert await store.events(EventQuery(since=future)) == []


async def test_quarantine_keeps_the_raw_request_and_counts_retries(store: Store) -> None:
    body = b"\xff\xfenot a form"
    first = await store.quarantine(raw(body=body), "body is not valid JSON", 400)
    again = await store.quarantine(raw(body=body), "body is not valid JSON", 400)
    other = await store.quarantine(raw(body=b"other"), "missing field 'Report'", 400)
    assert first == again != other
    rows = await store.quarantined()
    assert [r["id"] for r in rows] == [other, first]
    assert rows[1]["attempts"] == 2 and rows[1]["reason"] == "body is not valid JSON"
    assert rows[1]["request"]["body_encoding"] == "base64"
    assert rows[0]["request"]["body"] == "other"


async def test_commit_failure_raises_store_error_for_everyone(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    def broken(*args: Any) -> set[bytes]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(type(store), "_known_keys", staticmethod(broken))
    results = await asyncio.gather(*(store.append(raw(), [status(f"x{i}", "sent")]) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, StoreError) for r in results)
    monkeypatch.undo()
    assert await store.events(EventQuery()) == []
    assert await store.ping()


async def test_data_survives_reopen(store: Store) -> None:
    await store.append(raw(), [status("m1", "delivered")])
    await store.close()
    await store.open()
    assert len(await store.events(EventQuery())) == 1


async def test_a_nul_character_is_stored_not_refused(store: Store) -> None:
    """PostgreSQL text cannot hold NUL (it becomes U+FFFD there); either way the callback is stored,
    so the provider is not asked to retry it for ever."""
    event = inbound("bad\x00byte")
    assert (await store.append(raw(body=b"Message=bad%00byte"), [event])).new == (True,)
    [row] = await store.events(EventQuery())
    assert row["text"] in ("bad\x00byte", "bad\ufffdbyte") and row["id"] == event.id
    assert (await store.append(raw(), [inbound("bad\x00byte")])).new == (False,)  # a retry is still a retry


async def test_appends_and_quarantines_in_the_same_commits(store: Store) -> None:
    appends = [store.append(raw(), [status(f"q{i}", "sent"), status(f"q{i}", "delivered", 1)]) for i in range(40)]
    bad = [store.quarantine(raw(body=f"junk {i % 5}".encode()), "body is not valid JSON", 400) for i in range(20)]
    results = await asyncio.gather(*appends, *bad)
    assert all(r.new == (True, True) for r in results[:40])  # type: ignore[union-attr]
    assert len(set(results[40:])) == 5 and len(await store.quarantined()) == 5
    message = await store.message("csoft", "q7")
    assert message is not None and message["status"] == "delivered" and len(message["events"]) == 2
