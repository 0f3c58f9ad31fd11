"""The transactional outbox in the store: matching, leases, ordering, outcomes, replay, stats."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from smshook.errors import StoreError
from smshook.forwarding.model import DeliveryQuery, Filters, Outcome, ReplayQuery, Subscription
from smshook.storage import Store
from tests.forwarding.conftest import SECRET
from tests.storage.conftest import same_database
from tests.storage.test_store import inbound, raw, status


def sub(id: str, **kw: object) -> Subscription:
    return Subscription(id=id, kind="webhook", target=f"http://127.0.0.1:9/{id}", secrets=(SECRET,), **kw)  # type: ignore[arg-type]


async def queued(store: Store, subscription_id: str | None = None) -> list[dict[str, object]]:
    return await store.deliveries(DeliveryQuery(subscription_id=subscription_id, limit=500))


async def test_events_are_queued_for_matching_subscriptions_only(store: Store) -> None:
    await store.put_subscription(sub("all"))
    await store.put_subscription(sub("stop", filters=Filters(keywords=("STOP",))))
    await store.put_subscription(sub("win", filters=Filters(text_regex=r"\bwin\b")))
    await store.put_subscription(sub("failed", filters=Filters(types=("status",), statuses=("failed", "rejected"))))
    await store.put_subscription(sub("other", filters=Filters(connections=("elsewhere",))))
    await store.put_subscription(sub("off", enabled=False))
    stop, win, failed = inbound("stop all texts"), inbound("I want to WIN now"), status("m1", "failed")
    await store.append(raw(), [stop, win, failed, status("m1", "sent", minutes=-1)])
    by_sub = {s: {d["event_id"] for d in await queued(store, s)} for s in ("all", "stop", "win", "failed", "other",
                                                                         "off")}
    assert len(by_sub["all"]) == 4
    assert by_sub["stop"] == {stop.id} and by_sub["win"] == {win.id} and by_sub["failed"] == {failed.id}
    assert by_sub["other"] == set() and by_sub["off"] == set()


async def test_a_retry_is_not_queued_twice(store: Store) -> None:
    await store.put_subscription(sub("all"))
    await store.append(raw(), [status("m1", "delivered")])
    await store.append(raw(), [status("m1", "delivered")])
    assert len(await queued(store)) == 1


async def test_outbox_rows_share_the_events_transaction(store: Store) -> None:
    await store.put_subscription(sub("all"))
    first = status("m1", "sent")
    await store.append(raw(), [first])
    clash = replace(status("m2", "delivered"), id=first.id)  # a new key but an existing id: the insert fails
    with pytest.raises(StoreError):
        await store.append(raw(), [status("m3", "sent"), clash])
    assert [d["event_id"] for d in await queued(store)] == [first.id]  # m3 was neither stored nor queued


async def test_claim_lease_expiry_and_stable_webhook_id(store: Store) -> None:
    await store.put_subscription(sub("all"))
    await store.append(raw(), [status("m1", "sent")])
    now = time.time()
    [claimed] = await store.claim_deliveries("a", now, 30, 10)
    assert claimed.id.startswith("msg_") and claimed.event["message_id"] == "m1"
    assert await store.claim_deliveries("b", now + 1, 30, 10) == []  # leased to a
    [again] = await store.claim_deliveries("b", now + 31, 30, 10)  # a died: its lease ran out
    assert again.id == claimed.id
    assert not await store.record_attempt(claimed.id, "a", Outcome("pending", now + 32, now + 40, "late"))
    assert await store.record_attempt(again.id, "b", Outcome("delivered", now + 32, http_status=200))
    [row] = await queued(store)
    assert row["state"] == "delivered" and row["attempts"] == 1


async def test_retry_dead_letter_and_stats(store: Store) -> None:
    await store.put_subscription(sub("all"))
    await store.append(raw(), [status("m1", "sent")])
    now = time.time()
    [c] = await store.claim_deliveries("a", now, 30, 10)
    await store.record_attempt(c.id, "a", Outcome("pending", now, now + 100, "HTTP 500", 500))
    assert await store.claim_deliveries("a", now + 50, 30, 10) == []  # not due yet
    assert await store.next_due() == pytest.approx(now + 100)
    [c] = await store.claim_deliveries("a", now + 100, 30, 10)
    assert c.attempts == 1
    await store.record_attempt(c.id, "a", Outcome("dead", now + 101, error="HTTP 500", http_status=500))
    assert await store.claim_deliveries("a", now + 10_000, 30, 10) == []
    stats = (await store.subscription_stats())["all"]
    assert stats["dead"] == 1 and stats["backlog"] == 0 and stats["failures"] == 2 and stats["last_error"] == "HTTP 500"
    # Replay by event id: pending again, attempts reset, same webhook-id.
    assert await store.replay(ReplayQuery(event_ids=(c.event["id"],)), now + 200) == 1
    [again] = await store.claim_deliveries("a", now + 200, 30, 10)
    assert again.id == c.id and again.attempts == 0


async def test_ordered_subscription_waits_for_earlier_events_of_the_message(store: Store) -> None:
    await store.put_subscription(sub("ordered", ordered=True))
    await store.put_subscription(sub("loose"))
    await store.append(raw(), [status("m1", "sent", minutes=0)])
    await store.append(raw(), [status("m1", "delivered", minutes=1), status("m2", "sent")])
    now = time.time()
    claimed = await store.claim_deliveries("a", now, 30, 10)
    got = {(c.subscription.id, c.event["message_id"], c.event["status"]) for c in claimed}
    assert ("ordered", "m1", "delivered") not in got  # waits for m1 "sent"
    assert {("ordered", "m1", "sent"), ("ordered", "m2", "sent"), ("loose", "m1", "delivered")} <= got
    first = next(c for c in claimed if c.subscription.id == "ordered" and c.event["message_id"] == "m1")
    await store.record_attempt(first.id, "a", Outcome("pending", now, now, "HTTP 500"))  # failed: still waits
    [retry] = await store.claim_deliveries("a", now + 1, 30, 10)
    assert retry.id == first.id
    await store.record_attempt(first.id, "a", Outcome("delivered", now + 1))
    [later] = await store.claim_deliveries("a", now + 2, 30, 10)
    assert (later.subscription.id, later.event["status"]) == ("ordered", "delivered")


async def test_410_disables_the_subscription_and_new_events_are_not_queued(store: Store) -> None:
    await store.put_subscription(sub("s"))
    await store.append(raw(), [status("m1", "sent")])
    now = time.time()
    [c] = await store.claim_deliveries("a", now, 30, 10)
    await store.record_attempt(c.id, "a", Outcome("pending", now, now, "HTTP 410", 410, disable="HTTP 410"))
    s = await store.subscription("s")
    assert s is not None and not s.enabled and s.disabled_reason == "HTTP 410"
    assert await store.claim_deliveries("a", now + 1, 30, 10) == []
    await store.append(raw(), [status("m2", "sent")])
    assert len(await queued(store)) == 1
    await store.put_subscription(replace(s, enabled=True))  # enabled again: the backlog resumes
    assert len(await store.claim_deliveries("a", now + 2, 30, 10)) == 1


async def test_replay_by_message_and_by_subscription_time_range_backfills(store: Store) -> None:
    await store.put_subscription(sub("early"))
    await store.append(raw(), [status("m1", "sent"), status("m1", "delivered", minutes=1), status("m2", "sent")])
    now = time.time()
    for c in await store.claim_deliveries("a", now, 30, 10):
        await store.record_attempt(c.id, "a", Outcome("delivered", now))
    assert await store.replay(ReplayQuery(connection="csoft", message_id="m1"), now) == 2
    await store.put_subscription(sub("late"))  # came after the events
    assert await store.replay(ReplayQuery(subscription_id="late", since="2000-01-01T00:00:00Z"), now) == 3
    assert len(await queued(store, "late")) == 3
    with pytest.raises(ValueError):
        await store.replay(ReplayQuery(), now)


async def test_subscriptions_survive_reopen_and_delete_drops_pending(store: Store) -> None:
    await store.put_subscription(sub("s", filters=Filters(keywords=("STOP",)), ordered=True))
    await store.append(raw(), [inbound("stop")])
    again = same_database(store)
    await again.open()
    try:
        s = await again.subscription("s")
        assert s is not None and s.ordered and s.filters.keywords == ("STOP",)
        await again.append(raw(), [inbound("stop", sender="1")])
        assert len(await queued(again, "s")) == 2
    finally:
        await again.close()
    assert await store.delete_subscription("s")
    assert not await store.delete_subscription("s")
    assert await queued(store, "s") == []
