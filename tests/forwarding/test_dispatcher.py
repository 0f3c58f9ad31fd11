"""The dispatcher against a real receiver process: retries, timeouts, 410, 429 + Retry-After,
dead letters, ordering, and the Redis stream sink against a real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from smshook.forwarding.dispatcher import DispatchConfig, Dispatcher
from smshook.forwarding.model import DeliveryQuery, Subscription
from smshook.storage import Store
from tests.forwarding.conftest import SECRET, Receiver
from tests.storage.test_store import inbound, raw, status

FAST = DispatchConfig(schedule=(0, 0.2, 0.2, 0.2), jitter=0, timeout=1.0, lease=3, poll_interval=0.05,
                      allow_private_targets=True)  # the receiver listens on 127.0.0.1


def hook(id: str, url: str, **kw: Any) -> Subscription:
    return Subscription(id=id, kind="webhook", target=url, secrets=(SECRET,), **kw)


async def until(store: Store, check: Callable[[list[dict[str, Any]]], bool], within: float = 15) -> list[
        dict[str, Any]]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = await store.deliveries(DeliveryQuery(limit=500))
        if check(rows):
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries did not settle: {await store.deliveries(DeliveryQuery(limit=500))}")


async def run(store: Store, check: Callable[[list[dict[str, Any]]], bool],
              config: DispatchConfig = FAST) -> list[dict[str, Any]]:
    dispatcher = Dispatcher(store, config)
    dispatcher.start()
    try:
        return await until(store, check)
    finally:
        await dispatcher.stop()


def settled(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all(r["state"] in ("delivered", "dead") for r in rows)


async def test_fails_twice_then_succeeds_with_a_stable_signed_webhook_id(store: Store,
                                                                         receiver: Receiver) -> None:
    await store.put_subscription(hook("s", f"{receiver.url}/fail/2"))
    event = status("m1", "delivered")
    await store.append(raw(), [event])
    [row] = await run(store, settled)
    assert row["state"] == "delivered" and row["attempts"] == 3
    requests = receiver.requests()
    assert [r["status"] for r in requests] == [500, 500, 200]
    assert {r["headers"]["webhook-id"] for r in requests} == {row["id"]}
    for r in requests:
        payload = Webhook(SECRET).verify(r["body"], r["headers"])
        assert payload == {"type": "message.status", "timestamp": event.to_public()["received_at"],
                           "data": event.to_public()}
    assert r["headers"]["content-type"] == "application/json"
    stats = (await store.subscription_stats())["s"]
    assert stats["successes"] == 1 and stats["failures"] == 2 and stats["backlog"] == 0


async def test_dead_letter_after_the_last_attempt_then_replay(store: Store, receiver: Receiver) -> None:
    await store.put_subscription(hook("s", f"{receiver.url}/fail/4"))
    event = status("m1", "delivered")
    await store.append(raw(), [event])
    [row] = await run(store, settled)
    assert row["state"] == "dead" and row["attempts"] == 4 and row["last_error"].startswith("HTTP 500")
    assert len(receiver.requests()) == 4
    from smshook.forwarding.model import ReplayQuery

    assert await store.replay(ReplayQuery(event_ids=(event.id,), states=("dead",)), time.time()) == 1
    [row] = await run(store, settled)
    assert row["state"] == "delivered"
    assert {r["headers"]["webhook-id"] for r in receiver.requests()} == {row["id"]}


async def test_timeout_is_retried(store: Store, receiver: Receiver) -> None:
    await store.put_subscription(hook("s", f"{receiver.url}/slow/3/1", timeout=0.5))
    await store.append(raw(), [status("m1", "sent")])
    [row] = await run(store, settled)
    assert row["state"] == "delivered" and row["attempts"] == 2
    assert (await store.subscription_stats())["s"]["last_error"] == "timeout after 0.5s"


async def test_410_gone_disables_the_subscription(store: Store, receiver: Receiver) -> None:
    await store.put_subscription(hook("s", f"{receiver.url}/gone"))
    await store.append(raw(), [status("m1", "sent"), status("m2", "sent")])
    rows = await run(store, lambda rows: any(r["attempts"] for r in rows))
    await asyncio.sleep(0.3)
    sub = await store.subscription("s")
    assert sub is not None and not sub.enabled and "410" in (sub.disabled_reason or "")
    rows = await store.deliveries(DeliveryQuery())
    assert {r["state"] for r in rows} == {"pending"}  # kept, not dropped: resumes when enabled again
    assert 1 <= len(receiver.requests()) <= 2


async def test_429_retry_after_is_honoured(store: Store, receiver: Receiver) -> None:
    await store.put_subscription(hook("s", f"{receiver.url}/busy/1/1"))
    await store.append(raw(), [status("m1", "sent")])
    [row] = await run(store, settled)
    assert row["state"] == "delivered"
    first, second = receiver.requests()
    assert first["status"] == 429 and second["status"] == 200
    assert second["at"] - first["at"] >= 0.9  # the schedule says 0.2 s, Retry-After said 1 s


async def test_ordered_subscription_delivers_a_message_in_order(store: Store, receiver: Receiver) -> None:
    await store.put_subscription(hook("s", f"{receiver.url}/fail/1", ordered=True))
    events = [status("m1", "sent", minutes=0), status("m1", "buffered", minutes=1),
              status("m1", "delivered", minutes=2)]
    for event in events:
        await store.append(raw(), [event])
    await run(store, lambda rows: len(rows) == 3 and settled(rows))
    order = [orjson.loads(r["body"])["data"]["id"] for r in receiver.requests() if r["status"] == 200]
    assert order == [e.id for e in events]
    attempts = [orjson.loads(r["body"])["data"]["id"] for r in receiver.requests()]
    assert attempts == [e.id for e in events for _ in range(2)]  # each waits for the previous one's success


async def test_redis_stream_sink(store: Store, redis_url: str) -> None:
    import redis

    stream = f"smshook-test-{time.monotonic_ns()}"
    await store.put_subscription(Subscription(id="r", kind="redis", target=redis_url, stream=stream, secrets=()))
    events = [status("m1", "delivered"), inbound("STOP")]
    await store.append(raw(), events)
    rows = await run(store, lambda rows: len(rows) == 2 and settled(rows))
    client = redis.Redis.from_url(redis_url)
    try:
        entries = client.xrange(stream)
    finally:
        client.close()
    assert len(entries) == 2
    got = {e[1][b"webhook-id"].decode(): orjson.loads(e[1][b"payload"]) for e in entries}
    assert set(got) == {r["id"] for r in rows}
    assert sorted(p["data"]["id"] for p in got.values()) == sorted(e.id for e in events)
    assert {p["type"] for p in got.values()} == {"message.status", "message.inbound"}


async def test_redis_down_is_retried_not_lost(store: Store) -> None:
    from tests.e2e.conftest import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    await store.put_subscription(Subscription(id="r", kind="redis", target=url, stream="x", secrets=()))
    await store.append(raw(), [status("m1", "sent")])
    [row] = await run(store, settled)
    assert row["state"] == "dead" and row["attempts"] == 4 and row["last_error"].startswith("redis:")


@pytest.mark.parametrize("value, expected", [("3", 3.0), ("", None), ("soon", None)])
def test_retry_after_parsing(value: str, expected: float | None) -> None:
    from smshook.forwarding.sinks import retry_after

    assert retry_after(value) == expected
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
