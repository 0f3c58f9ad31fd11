"""Issue 16 at the store, on every backend: replays keep the count of earlier attempts, date ranges on
deliveries, quarantine and events, the database identity, why a delivery waits; and the dispatcher's
own masked log line for every attempt (the HTTP client's lines, which show whole URLs, silenced)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from smshook import logs
from smshook.events import iso
from smshook.forwarding.dispatcher import Dispatcher
from smshook.forwarding.model import DeliveryQuery, Outcome, ReplayQuery, Subscription
from smshook.forwarding.waiting import annotate_waiting
from smshook.storage import EventQuery, Store
from tests.forwarding.conftest import SECRET, Receiver
from tests.forwarding.test_dispatcher import FAST, settled, until
from tests.storage.conftest import same_database
from tests.storage.test_store import raw, status


def sub(id: str, url: str = "http://127.0.0.1:9/x", **kw: object) -> Subscription:
    return Subscription(id=id, kind="webhook", target=url, secrets=(SECRET,), **kw)  # type: ignore[arg-type]


async def test_a_replay_keeps_the_earlier_attempts(store: Store) -> None:
    await store.put_subscription(sub("s"))
    await store.append(raw(), [status("m1", "sent")])
    now = time.time()
    for attempt, state in enumerate(("pending", "dead")):
        [c] = await store.claim_deliveries("a", now + 1000 * attempt, 30, 10)
        await store.record_attempt(c.id, "a", Outcome(state, now + 1000 * attempt, now + 500, "HTTP 500", 500))  # type: ignore[arg-type]
    assert await store.replay(ReplayQuery(subscription_id="s", states=("dead",)), now + 3000) == 1
    [row] = await store.deliveries(DeliveryQuery())
    assert row["state"] == "pending" and row["attempts"] == 2 and row["attempts_since_replay"] == 0
    assert row["replays"] == 1 and row["last_error"] == "HTTP 500"  # the failures stay visible
    [again] = await store.claim_deliveries("a", now + 3000, 30, 10)
    assert again.attempts == 0  # a new round of the retry schedule
    await store.record_attempt(again.id, "a", Outcome("delivered", now + 3001, http_status=200))
    [row] = await store.deliveries(DeliveryQuery())
    assert row["state"] == "delivered" and row["attempts"] == 3 and row["attempts_since_replay"] == 1


async def test_date_ranges_on_deliveries_quarantine_and_events(store: Store) -> None:
    await store.put_subscription(sub("s"))
    await store.append(raw(), [status("m1", "sent")])
    qid = await store.quarantine(raw(body=b"??"), "unreadable", 400)
    now = datetime.now(UTC)
    before, after = now - timedelta(hours=1), now + timedelta(hours=1)
    assert len(await store.deliveries(DeliveryQuery(since=before.timestamp(), until=after.timestamp()))) == 1
    assert await store.deliveries(DeliveryQuery(since=after.timestamp())) == []
    assert await store.deliveries(DeliveryQuery(until=before.timestamp())) == []
    assert [q["id"] for q in await store.quarantined(since=iso(before), until=iso(after))] == [qid]
    assert await store.quarantined(until=iso(before)) == []
    assert len(await store.events(EventQuery(until=iso(after)))) == 1
    assert await store.events(EventQuery(until=iso(before))) == []


async def test_database_identity(store: Store) -> None:
    first = await store.database_id()
    assert len(first) == 32 and int(first, 16) >= 0
    other = same_database(store)
    await other.open()
    try:
        assert await other.database_id() == first  # the same database, from another process
    finally:
        await other.close()


async def test_an_ordered_delivery_says_what_it_waits_for(store: Store) -> None:
    ordered = sub("o", ordered=True)
    await store.put_subscription(ordered)
    await store.append(raw(), [status("m1", "sent", minutes=0)])
    await store.append(raw(), [status("m1", "delivered", minutes=1)])
    rows = await annotate_waiting(store, await store.deliveries(DeliveryQuery()), {"o": ordered})
    later, first = rows
    assert later["waiting_for"] == first["id"] and first["waiting"] is None


async def test_every_attempt_is_logged_by_smshook_with_the_url_masked(store: Store, receiver: Receiver,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    logs.configure("info")
    caplog.set_level(logging.INFO)
    await store.put_subscription(sub("ok", f"{receiver.url}/ok?key=s3cr3t-key"))
    await store.put_subscription(sub("bad", "http://127.0.0.1:9/hook?key=s3cr3t-key"))  # nothing listens
    await store.append(raw(), [status("m1", "sent")])
    dispatcher = Dispatcher(store, FAST)
    dispatcher.start()
    try:
        rows = await until(store, settled)
    finally:
        await dispatcher.stop()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cr3t" not in text and "HTTP Request" not in text  # httpx's own lines are silenced
    mine = [r for r in caplog.records if r.name == "smshook.forwarding"]
    ids = {r["id"] for r in rows if r["state"] == "delivered"}
    delivered = [r for r in mine if getattr(r, "outcome", None) == "delivered"]
    failed = [r for r in mine if getattr(r, "outcome", None) in ("pending", "dead")]
    assert {r.webhook_id for r in delivered} == ids  # type: ignore[attr-defined]
    assert [r.attempt for r in failed] == [1, 2, 3, 4]  # type: ignore[attr-defined]
    assert {r.subscription for r in failed} == {"bad"} and failed[-1].outcome == "dead"  # type: ignore[attr-defined]
    assert all(r.target.endswith("?***") for r in mine)  # type: ignore[attr-defined]
    assert "delivered (attempt 1)" in delivered[0].getMessage()
