"""Why an unfinished delivery is not being sent now, for people (the API, the dashboard, the CLI)."""

from __future__ import annotations

from typing import Any

from smshook.forwarding.model import DeliveryQuery, Subscription
from smshook.storage.base import Store


async def annotate_waiting(store: Store, rows: list[dict[str, Any]],
                           subscriptions: dict[str, Subscription]) -> list[dict[str, Any]]:
    """Add ``waiting`` to each delivery: why an unfinished one is not being sent now (null when it is
    simply due at ``next_attempt_at``): its subscription is paused, or (ordered subscriptions) an
    earlier event of the same message is not delivered yet — ``waiting_for`` names that delivery."""
    blocked: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
    for row in rows:
        row["waiting"], row["waiting_for"] = None, None
        sub = subscriptions.get(row["subscription_id"])
        if row["state"] != "pending" or sub is None:
            continue
        if not sub.enabled:
            row["waiting"] = "subscription paused" + (f": {sub.disabled_reason}" if sub.disabled_reason else "")
            continue
        if not sub.ordered or row["message_id"] is None:
            continue
        key = (sub.id, row["connection"], row["message_id"])
        if key not in blocked:
            same = await store.deliveries(DeliveryQuery(subscription_id=sub.id, connection=key[1],
                                                        message_id=key[2], limit=10_000))
            blocked[key] = sorted((int(d["cursor"]), d["id"]) for d in same if d["state"] in ("pending", "delivering"))
        earlier = [d for d in blocked[key] if d[0] < int(row["cursor"])]
        if earlier:
            row["waiting"] = "for an earlier event of this message (ordered subscription)"
            row["waiting_for"] = earlier[0][1]
    return rows
