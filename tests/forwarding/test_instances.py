"""Several instances (processes) on one database: subscription changes made by one are seen by the
others' very next write, so no event is stored without being queued for a subscription that exists."""

from __future__ import annotations

import time

from smshook.forwarding.model import DeliveryQuery, Outcome, Subscription
from smshook.storage import Store
from tests.forwarding.conftest import SECRET
from tests.storage.conftest import same_database
from tests.storage.test_store import raw, status


def sub(id: str, **kw: object) -> Subscription:
    return Subscription(id=id, kind="webhook", target=f"http://127.0.0.1:9/{id}", secrets=(SECRET,), **kw)  # type: ignore[arg-type]


async def queued_for(store: Store, subscription_id: str) -> set[str]:
    rows = await store.deliveries(DeliveryQuery(subscription_id=subscription_id, limit=500))
    return {str(r["message_id"]) for r in rows}


async def test_subscription_changes_reach_the_other_instances(store: Store) -> None:
    other = same_database(store)
    await other.open()
    try:
        await store.append(raw(), [status("m0", "sent")])  # this instance is warm (caches loaded)
        await other.put_subscription(sub("late"))  # created through the other instance's API
        await store.append(raw(), [status("m1", "sent")])
        assert await queued_for(store, "late") == {"m1"}

        claimed = await store.claim_deliveries("here", time.time(), 30, 10)  # and this one can send it
        assert [(c.subscription.id, c.event["message_id"]) for c in claimed] == [("late", "m1")]

        await other.put_subscription(sub("late", enabled=False))
        await store.append(raw(), [status("m2", "sent")])
        assert await queued_for(store, "late") == {"m1"}

        await other.put_subscription(sub("gone"))
        await store.append(raw(), [status("m3", "sent")])
        assert await queued_for(store, "gone") == {"m3"}
        await other.record_attempt(  # a 410 Gone seen by the other instance's dispatcher disables it
            (await other.claim_deliveries("there", time.time(), 30, 10))[0].id, "there",
            Outcome("pending", time.time(), next_attempt_at=time.time(), error="410", http_status=410,
                    disable="410 Gone"))
        await store.append(raw(), [status("m4", "sent")])
        assert await queued_for(store, "gone") == {"m3"}

        assert await other.delete_subscription("late")
        await other.put_subscription(sub("new"))
        await store.append(raw(), [status("m5", "sent")])
        assert await queued_for(store, "new") == {"m5"}
        assert await queued_for(store, "late") == set()
    finally:
        await other.close()
