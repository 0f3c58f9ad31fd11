"""The live feed's fan-out (smshook.web.stream.Feed) in process: one poller for every stream, a
resume from a position, a reader that falls behind, and close() ending every stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from smshook.storage.sqlite import SQLiteStore
from smshook.web.stream import Feed
from tests.storage.test_store import raw, status


async def frames(stream: AsyncIterator[bytes], n: int) -> list[tuple[int, dict[str, object]]]:
    out = []
    async with asyncio.timeout(5):
        async for chunk in stream:
            if chunk.startswith(b"id: "):
                head, data = chunk.split(b"\n")[:2]
                out.append((int(head[4:]), orjson.loads(data[6:])))
                if len(out) == n:
                    return out
    return out


async def test_one_poller_fans_out_and_resumes(store: SQLiteStore) -> None:
    feed = Feed(store, interval=0.05)
    await store.append(raw(), [status("m0", "sent")])
    first, backlog = await feed.subscribe(None)
    assert backlog == []  # a new stream starts at the end
    resumed, backlog = await feed.subscribe(0)  # Last-Event-ID: 0 asks for everything after it
    assert [e["message_id"] for _, e in backlog] == ["m0"]
    only_other, _ = await feed.subscribe(None, connection="other")
    assert len(feed.subscribers) == 3
    await store.append(raw(), [status("m1", "sent"), status("m2", "sent")])
    a = await frames(feed.stream(first, []), 2)
    b = await frames(feed.stream(resumed, backlog), 3)
    assert [e["message_id"] for _, e in a] == ["m1", "m2"]
    assert [e["message_id"] for _, e in b] == ["m0", "m1", "m2"]
    assert only_other.queue.empty()
    feed.close()


async def test_a_reader_too_far_behind_is_ended(store: SQLiteStore) -> None:
    feed = Feed(store, interval=0.05)
    sub, _ = await feed.subscribe(None)
    for _ in range(sub.queue.maxsize + 1):
        sub.offer((1, {}))
    assert sub.queue.qsize() == 1 and sub.queue.get_nowait() is None  # the end marker: the client reconnects
    feed.close()


async def test_close_ends_every_stream_and_refuses_new_ones(store: SQLiteStore) -> None:
    feed = Feed(store, interval=0.05, heartbeat=0.1)
    subs = [await feed.subscribe(None) for _ in range(3)]
    streams = [feed.stream(sub, backlog) for sub, backlog in subs]
    assert [await anext(s) for s in streams] == [b"retry: 2000\n\n"] * 3
    assert await anext(streams[0]) == b": ping\n\n"  # idle: a heartbeat comment
    feed.close()
    async with asyncio.timeout(2):
        for s in streams:
            assert [chunk async for chunk in s] == []
    assert feed.subscribers == set()


async def test_many_streams_one_query_per_interval(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    original = store.feed

    async def counting(*args: object, **kw: object) -> list[tuple[int, dict[str, object]]]:
        nonlocal calls
        calls += 1
        return await original(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "feed", counting)
    feed = Feed(store, interval=0.05)
    subs = [(await feed.subscribe(None))[0] for _ in range(20)]
    await asyncio.sleep(0.5)
    assert 3 <= calls <= 12  # ~10 polls in 0.5 s, for 20 streams
    await store.append(raw(), [status("m9", "sent")])
    await asyncio.sleep(0.2)
    assert all(s.queue.qsize() == 1 for s in subs)
    feed.close()
