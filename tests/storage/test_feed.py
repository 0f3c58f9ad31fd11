"""The live feed's store side (every backend): positions, order, filters, limits."""

from __future__ import annotations

from smshook.storage import Store
from tests.storage.test_store import inbound, raw, status


async def test_feed_in_commit_order_with_filters_and_limit(store: Store) -> None:
    assert await store.feed_position() == 0
    assert await store.feed(0) == []
    await store.append(raw(), [status("m1", "sent"), status("m1", "delivered")])
    await store.append(raw(), [inbound("STOP")])
    await store.append(raw("other"), [status("m2", "failed", connection="other")])
    end = await store.feed_position()
    rows = await store.feed(0)
    assert [e["message_id"] or e["text"] for _, e in rows] == ["m1", "m1", "STOP", "m2"]
    positions = [p for p, _ in rows]
    assert positions == sorted(set(positions)) and positions[-1] == end
    assert [e["status"] for _, e in await store.feed(positions[0], limit=1)] == ["delivered"]
    assert [e["text"] for _, e in await store.feed(0, type="inbound")] == ["STOP"]
    assert [e["message_id"] for _, e in await store.feed(0, connection="other")] == ["m2"]
    assert await store.feed(end) == []
