"""Issue 18's dispatcher on every backend: claims and outcomes in batches, per-target limits and
pauses (429 + Retry-After), batch mode (several events in one signed POST), a dispatcher stopped
mid-batch, and two instances sharing one backlog without sending anything twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from smshook.forwarding import signing
from smshook.forwarding.config import SubscriptionSpec
from smshook.forwarding.dispatcher import DispatchConfig, Dispatcher, TargetLimit
from smshook.forwarding.model import DeliveryQuery, Outcome, Subscription
from smshook.forwarding.sinks import SendResult
from smshook.storage import Store
from tests.forwarding.conftest import SECRET, Receiver
from tests.forwarding.test_dispatcher import hook, run, settled, until
from tests.storage.conftest import same_database
from tests.storage.test_store import raw, status


async def deliveries(store: Store) -> list[dict[str, Any]]:
    return await store.deliveries(DeliveryQuery(limit=500))


async def test_batch_claims_keep_leases_and_per_message_order(store: Store) -> None:
    await store.put_subscription(hook("o", "http://127.0.0.1:9/o", ordered=True))
    await store.put_subscription(hook("u", "http://127.0.0.1:9/u"))
    for n in range(3):  # three events per message, ten messages
        await store.append(raw(), [status(f"m{i}", ("sent", "buffered", "delivered")[n], minutes=n) for i in range(10)])
    now = time.time()
    first = await store.claim_deliveries("a", now, 30, 500)
    by_sub = Counter(c.subscription.id for c in first)
    assert by_sub == {"u": 30, "o": 10}  # ordered: only the first unfinished event of each message
    assert {c.event["status"] for c in first if c.subscription.id == "o"} == {"sent"}
    # Leased: another owner gets nothing of them, not even in a large claim.
    assert await store.claim_deliveries("b", now + 1, 30, 500) == []
    # Record the whole batch in one call: the ordered messages' next events become claimable.
    outcomes = [(c.id, Outcome("delivered", now + 1, http_status=200)) for c in first]
    assert await store.record_attempts("a", outcomes) == [True] * len(first)
    second = await store.claim_deliveries("b", now + 2, 30, 500, skip=["u"])
    assert {c.subscription.id for c in second} == {"o"} and {c.event["status"] for c in second} == {"buffered"}
    stats = (await store.subscription_stats())["u"]
    assert stats["successes"] == 30 and stats["delivered"] == 30


async def test_record_attempts_mixes_outcomes_and_hands_leases_back(store: Store) -> None:
    await store.put_subscription(hook("s", "http://127.0.0.1:9/s"))
    await store.append(raw(), [status(f"m{i}", "sent") for i in range(4)])
    now = time.time()
    a, b, c, d = await store.claim_deliveries("me", now, 30, 10)
    results = await store.record_attempts("me", [
        (a.id, Outcome("delivered", now, http_status=200)),
        (b.id, Outcome("pending", now, next_attempt_at=now + 5, error="HTTP 500", http_status=500)),
        (c.id, Outcome("pending", now, next_attempt_at=now + 2, attempted=False)),  # handed back
    ])
    assert results == [True, True, True]
    assert await store.record_attempts("someone-else", [(d.id, Outcome("dead", now, error="x"))]) == [False]
    rows = {r["id"]: r for r in await deliveries(store)}
    assert rows[a.id]["state"] == "delivered" and rows[a.id]["attempts"] == 1
    assert rows[b.id]["state"] == "pending" and rows[b.id]["attempts"] == 1 and rows[b.id]["last_error"] == "HTTP 500"
    assert rows[c.id]["state"] == "pending" and rows[c.id]["attempts"] == 0 and rows[c.id]["last_error"] is None
    assert rows[d.id]["state"] == "delivering"
    stats = (await store.subscription_stats())["s"]
    assert (stats["successes"], stats["failures"]) == (1, 1)  # the hand-back is not an attempt
    # Handed back at now + 2: claimable then, not before.
    assert [x.id for x in await store.claim_deliveries("me", now + 1, 30, 10)] == []
    assert [x.id for x in await store.claim_deliveries("me", now + 6, 30, 10)] == [c.id, b.id]  # due order


async def test_429_with_retry_after_pauses_that_target_only(store: Store, receiver: Receiver) -> None:
    await store.put_subscription(hook("busy", f"{receiver.url}/busy/2/1"))
    await store.put_subscription(hook("fine", f"{receiver.url}/ok"))
    await store.append(raw(), [status(f"m{i}", "sent") for i in range(8)])
    config = DispatchConfig(schedule=(0, 0.2, 0.2, 0.2), jitter=0, timeout=2, lease=5, poll_interval=0.05,
                            concurrency=2, allow_private_targets=True)
    dispatcher = Dispatcher(store, config)
    started = time.time()
    dispatcher.start()
    try:
        await until(store, lambda rows: sum(r["state"] == "delivered" for r in rows
                                            if r["subscription_id"] == "fine") == 8, within=10)
        fine_done = time.time()
        rows = await until(store, lambda rows: len(rows) == 16 and settled(rows), within=20)
    finally:
        await dispatcher.stop()
    assert {r["state"] for r in rows} == {"delivered"}
    busy = sorted((r for r in receiver.requests() if r["path"].startswith("/busy")), key=lambda r: r["at"])
    first_429 = busy[0]["at"]
    # The other target went on at full speed while this one waited.
    assert fine_done - started < 1.8
    # After the first 429 nothing more went to the busy target until its Retry-After (2 s) was over,
    # except what was already in flight (its limit: at most 2).
    during = [r for r in busy if first_429 < r["at"] < first_429 + 1.9]
    assert len(during) <= 1
    # The receiver answers 429 to the first request of each webhook-id: every delivery made exactly
    # two attempts (429, then 200); those that waited during a pause were handed back uncounted.
    assert sum(r["status"] == 429 for r in busy) == 8
    assert {r["attempts"] for r in rows if r["subscription_id"] == "busy"} == {2}


def test_target_limit_adapts_to_latency_and_failures() -> None:
    limit = TargetLimit(ceiling=64)
    now = 1000.0
    for _ in range(40):  # fast answers: slow start doubles the limit per round trip
        limit.observe(SendResult(True, status=200), 0.002, now, 3600)
    assert limit.limit == 44
    limit.observe(SendResult(True, status=200), 0.5, now, 3600)  # a much slower answer: back off a bit
    assert limit.limit < 44 and not limit.slow_start
    before = limit.limit
    limit.observe(SendResult(False, status=503, error="HTTP 503"), 0.002, now, 3600)
    assert limit.limit == pytest.approx(before / 2)
    limit.observe(SendResult(False, status=429, retry_after=30, error="HTTP 429"), 0.002, now, 3600)
    assert limit.paused(now + 29) and not limit.paused(now + 31)
    for _ in range(100):
        limit.observe(SendResult(False, error="timeout"), 1, now, 3600)
    assert limit.limit == 1  # never below one request

    slow = TargetLimit(ceiling=32)
    slow.observe(SendResult(True, status=200), 0.002, now, 3600)  # once fast,
    for _ in range(100):  # then always slow (but answering): it settles at a quarter of the ceiling
        slow.observe(SendResult(True, status=200), 2.5, now, 3600)
        assert slow.limit >= 5
    assert int(slow.limit) == 8 and slow.room() == 8
    slow.observe(SendResult(False, error="timeout"), 4, now, 3600)  # failures go lower
    assert slow.limit < 5


async def test_batch_mode_posts_signed_json_arrays(store: Store, receiver: Receiver) -> None:
    await store.put_subscription(hook("b", f"{receiver.url}/ok", batch_max=10, batch_wait=0.3))
    events = [status(f"m{i}", "delivered") for i in range(25)]
    await store.append(raw(), events)
    rows = await run(store, lambda rows: len(rows) == 25 and settled(rows))
    assert {r["state"] for r in rows} == {"delivered"} and {r["attempts"] for r in rows} == {1}
    requests = receiver.requests()
    assert sorted(len(orjson.loads(r["body"])) for r in requests) == [5, 10, 10]
    seen: dict[str, dict[str, Any]] = {}
    for request in requests:
        batch = Webhook(SECRET).verify(request["body"], request["headers"])  # the Standard Webhooks library
        assert isinstance(batch, list)
        assert request["headers"]["webhook-id"].startswith("batch_")
        assert request["headers"]["webhook-id"] == signing.batch_payload(
            [(item["id"], item["data"]) for item in batch])[0]  # the batch id follows from its members
        for item in batch:
            assert set(item) == {"id", "type", "timestamp", "data"} and item["type"] == "message.status"
            seen[item["id"]] = item["data"]
    assert set(seen) == {r["id"] for r in rows}  # each element carries its delivery's own webhook-id
    assert sorted(d["id"] for d in seen.values()) == sorted(e.id for e in events)


async def test_batch_wait_sends_a_partial_batch(store: Store, receiver: Receiver) -> None:
    await store.put_subscription(hook("b", f"{receiver.url}/ok", batch_max=50, batch_wait=0.5))
    await store.append(raw(), [status("m1", "sent"), status("m2", "sent")])
    started = time.monotonic()
    rows = await run(store, lambda rows: len(rows) == 2 and settled(rows))
    assert time.monotonic() - started >= 0.45  # it waited for more
    [request] = receiver.requests()
    assert len(orjson.loads(request["body"])) == 2 and {r["state"] for r in rows} == {"delivered"}


async def test_a_dispatcher_stopped_mid_batch_redelivers_with_the_same_webhook_ids(
        store: Store, receiver: Receiver) -> None:
    # The first request of each webhook-id hangs 3 s (longer than the attempt's timeout), the next
    # is answered at once.
    await store.put_subscription(hook("b", f"{receiver.url}/slow/3/1", batch_max=20))
    await store.append(raw(), [status(f"m{i}", "sent") for i in range(20)])
    config = DispatchConfig(schedule=(0, 0.2, 0.2), jitter=0, timeout=5, lease=1, poll_interval=0.05,
                            allow_private_targets=True)
    first = Dispatcher(store, config)
    first.start()
    await until(store, lambda rows: {r["state"] for r in rows} == {"delivering"})  # claimed
    await asyncio.sleep(0.5)  # and on its way: the receiver holds the request for 3 s
    await first.stop(grace=0)  # killed mid-request: nothing recorded, the leases stay until they expire
    assert {r["state"] for r in await deliveries(store)} == {"delivering"}
    # Another dispatcher (another instance, after the lease ran out) sends the same batch again.
    second = Dispatcher(same_database(store), config)
    await second.store.open()
    try:
        second.start()
        rows = await until(store, lambda rows: settled(rows), within=20)
        await second.stop()
    finally:
        await second.store.close()
    assert {r["state"] for r in rows} == {"delivered"}
    requests = receiver.wait_for(lambda rows: len(rows) >= 2)
    ids = [r["headers"]["webhook-id"] for r in requests]
    assert len(set(ids)) == 1  # the same batch, the same webhook-id
    members = [[item["id"] for item in orjson.loads(r["body"])] for r in requests]
    assert all(m == members[0] for m in members) and set(members[0]) == {r["id"] for r in rows}


async def test_a_dispatcher_stopped_while_recording_waits_for_that_recording(
        store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # stop() used to spin without ever yielding while the recorder was inside a commit, so that
    # commit could never finish and stop() never returned (a hung test under load, on PostgreSQL).
    await store.put_subscription(hook("s", f"{receiver.url}/ok"))
    await store.append(raw(), [status("m1", "delivered")])
    recording = asyncio.Event()
    record_attempts = store.record_attempts

    async def slow_commit(owner: str, outcomes: Any) -> list[bool]:
        recording.set()
        await asyncio.sleep(0.5)
        return await record_attempts(owner, outcomes)

    monkeypatch.setattr(store, "record_attempts", slow_commit)
    dispatcher = Dispatcher(store, DispatchConfig(timeout=5, lease=30, poll_interval=0.05, allow_private_targets=True))
    dispatcher.start()
    await asyncio.wait_for(recording.wait(), 15)
    started = time.monotonic()
    await dispatcher.stop()
    assert time.monotonic() - started < 5
    [row] = await deliveries(store)
    assert row["state"] == "delivered" and row["attempts"] == 1


async def test_two_instances_share_the_backlog_without_double_sends(store: Store, receiver: Receiver) -> None:
    await store.put_subscription(hook("s", f"{receiver.url}/ok"))
    for start in range(0, 300, 100):
        await store.append(raw(), [status(f"m{i}", "delivered") for i in range(start, start + 100)])
    other = same_database(store)
    await other.open()
    config = DispatchConfig(timeout=5, lease=30, poll_interval=0.05, concurrency=8, allow_private_targets=True)
    a, b = Dispatcher(store, config), Dispatcher(other, config)
    try:
        a.start()
        b.start()
        rows = await until(store, lambda rows: len(rows) == 300 and settled(rows), within=60)
        await a.stop()
        await b.stop()
    finally:
        await other.close()
    assert {r["state"] for r in rows} == {"delivered"} and {r["attempts"] for r in rows} == {1}
    sent = Counter(r["headers"]["webhook-id"] for r in receiver.requests())
    assert len(sent) == 300 and set(sent.values()) == {1}  # each once, by one instance or the other


async def test_batch_settings_round_trip_and_are_validated(store: Store) -> None:
    spec = SubscriptionSpec(url="https://example.invalid/x", secret=SECRET, batch_max=100, batch_wait=2)
    stored = await store.put_subscription(spec.build("b", "api"))
    assert (stored.batch_max, stored.batch_wait) == (100, 2.0)
    assert stored.public()["batch_max"] == 100
    again = await store.subscription("b")
    assert again is not None and (again.batch_max, again.batch_wait) == (100, 2.0)
    plain = await store.put_subscription(Subscription(id="p", kind="webhook", target="https://x", secrets=(SECRET,)))
    assert (plain.batch_max, plain.batch_wait) == (1, 0.0)
    for bad, message in (({"redis_url": "redis://h/0", "batch_max": 5}, "webhook subscriptions"),
                         ({"url": "https://x", "batch_wait": 1}, "batch_max > 1"),
                         ({"url": "https://x", "batch_max": 0}, "greater than or equal to 1"),
                         ({"url": "https://x", "batch_max": 5, "batch_wait": 31}, "less than or equal to 30")):
        with pytest.raises(ValueError, match=message):
            SubscriptionSpec.model_validate(bad)


async def test_batch_settings_through_the_api_survive_a_patch(tmp_path: Path) -> None:
    from smshook.app import SmshookApp
    from smshook.settings import load_settings
    from smshook.storage.sqlite import SQLiteStore
    from tests.web.conftest import app_client

    async with app_client(SmshookApp(load_settings(), SQLiteStore(tmp_path / "x.db"))) as c:
        r = await c.post("/v1/subscriptions", json={"id": "b", "url": "https://example.invalid/x", "secret": SECRET,
                                                    "batch_max": 50, "batch_wait": 1.5})
        assert r.status_code == 201, r.text
        assert (r.json()["batch_max"], r.json()["batch_wait"]) == (50, 1.5)
        r = await c.patch("/v1/subscriptions/b", json={"enabled": False})
        assert r.status_code == 200 and (r.json()["batch_max"], r.json()["batch_wait"]) == (50, 1.5)
        r = await c.post("/v1/subscriptions", json={"url": "https://example.invalid/y", "batch_max": 0})
        assert r.status_code == 400 and "batch_max" in r.text
        r = await c.post("/v1/subscriptions", json={"redis_url": "redis://127.0.0.1:6379/0", "batch_max": 10})
        assert r.status_code == 400 and "webhook subscriptions" in r.text
