"""Message lifecycle (issue 15) on every storage backend: registration and linking, multipart roll-up,
stuck messages and the synthetic expired, opt-outs, the sweep's lease."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from smshook.events import Event, finalize, iso, uuid7
from smshook.forwarding.model import Filters, Subscription
from smshook.lifecycle import registration
from smshook.lifecycle import store as ls
from smshook.lifecycle.options import LifecycleOptions
from smshook.lifecycle.optouts import derive
from smshook.lifecycle.stuck import Sweeper, sweep_once
from smshook.storage import EventQuery, RawRecord, Store
from tests.storage.conftest import same_database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = iso(T0) or ""


def raw(connection: str = "csoft") -> RawRecord:
    return RawRecord(uuid7(), connection, "csoft", "POST", f"/hooks/{connection}", "", (), b"x", "127.0.0.1",
                     iso(datetime.now(UTC)) or "")


def status(message_id: str, state: str, minutes: int | None = 0, **kw: Any) -> Event:
    when = T0 + timedelta(minutes=minutes) if minutes is not None else None
    event = Event(type="status", message_id=message_id, status=state, provider_status=state, occurred_at=when, **kw)
    return finalize([event], "csoft", "csoft", datetime.now(UTC))[0]


def reg(message_id: str, **kw: Any) -> registration.Registration:
    item = {"connection": "csoft", "message_id": message_id, "to": "+447700900123", **kw}
    return registration.parse(item, NOW, None)


async def test_receipts_before_during_and_long_after_registration(store: Store) -> None:
    await store.append(raw(), [status("early", "sent", 0)])  # before
    [(code, _)] = await ls.register(store, [reg("early", reference="order-1", metadata={"k": 1},
                                                sent_at="2026-03-01T11:58:00Z")])
    assert code == 201
    await store.append(raw(), [status("early", "delivered", 4)])  # after
    view = await ls.describe(store, "csoft", "early")
    assert view is not None and view["registered"] and view["reference"] == "order-1"
    assert view["status"] == "delivered" and view["time_to_final_s"] == 360.0  # from sent_at 11:58 to 12:04
    assert [e["status"] for e in view["events"]] == ["sent", "delivered"]
    assert all(e["reference"] == "order-1" and e["metadata"] == {"k": 1} for e in view["events"])
    listed = await store.events(EventQuery(message_id="early"))
    assert {e["reference"] for e in listed} == {"order-1"} and listed[0]["metadata"] == {"k": 1}
    feed = await store.feed(0)
    assert all(e["reference"] == "order-1" for _, e in feed)

    # during: registration and receipt racing in the same moment
    results = await asyncio.gather(ls.register(store, [reg("race", reference="order-2")]),
                                   store.append(raw(), [status("race", "delivered", 1)]))
    assert results[0][0][0] == 201
    view = await ls.describe(store, "csoft", "race")
    assert view is not None and view["status"] == "delivered" and view["reference"] == "order-2"

    # long after: a week of receipts, then the registration links them all
    await store.append(raw(), [status("late", "sent", 0), status("late", "buffered", 60),
                               status("late", "delivered", 7 * 24 * 60)])
    await ls.register(store, [reg("late", reference="order-3", sent_at="2026-03-01T12:00:00Z")])
    view = await ls.describe(store, "csoft", "late")
    assert view is not None and view["status"] == "delivered" and view["time_to_final_s"] == 7 * 86400.0
    assert [m["message_id"] for m in await ls.by_reference(store, "order-3")] == ["late"]


async def test_registration_is_idempotent_and_conflicts_are_named(store: Store) -> None:
    first = reg("m1", reference="r1", metadata={"a": 1})
    assert [c for c, _ in await ls.register(store, [first])] == [201]
    again = reg("m1", reference="r1", metadata={"a": 1})  # sent_at defaulted: not compared
    assert [c for c, _ in await ls.register(store, [again])] == [200]
    [(code, body)] = await ls.register(store, [reg("m1", reference="r2", metadata={"a": 2})])
    assert code == 409 and body["fields"] == ["reference", "metadata"]
    [(code, body)] = await ls.register(store, [reg("m2", parts=["m1", "p2"])])  # m1 is another message's
    assert code == 409 and "'m1' belongs to message 'm1'" in body["error"]
    assert await ls.describe(store, "csoft", "m2") is None  # nothing of the conflicting one was stored


async def test_parts_in_any_order_roll_up(store: Store) -> None:
    finals = [("p1", "delivered", 3), ("p2", "delivered", 5), ("p3", "delivered", 4)]
    for n, order in enumerate(itertools.permutations(finals)):
        ids = {p: f"{p}-{n}" for p, _, _ in finals}
        before, after = order[0], order[1:]
        # one part's receipt before the registration, the others after, each preceded by "sent"
        await store.append(raw(), [status(ids[before[0]], "sent", 0), status(ids[before[0]], before[1], before[2])])
        await ls.register(store, [reg(f"msg-{n}", parts=list(ids.values()), sent_at=NOW)])
        view = await ls.describe(store, "csoft", f"msg-{n}")
        assert view is not None and view["status"] == "pending" and not view["final"]
        for pid, state, minute in after:
            await store.append(raw(), [status(ids[pid], state, minute), status(ids[pid], "sent", 0)])
        view = await ls.describe(store, "csoft", ids["p2"])  # a part's id finds its message
        assert view is not None and view["message_id"] == f"msg-{n}"
        assert view["status"] == "delivered" and view["final"] and not view["partial"]
        assert view["time_to_final_s"] == 300.0  # the last part, at 12:05
        assert [p["status"] for p in view["parts"]] == ["delivered"] * 3
        assert len(view["events"]) == 6


async def test_a_failed_part_makes_the_message_partly_delivered(store: Store) -> None:
    await ls.register(store, [reg("mp", parts=["a", "b", "c"])])
    await store.append(raw(), [status("a", "delivered", 1), status("b", "undelivered", 2), status("c", "sent", 1)])
    view = await ls.describe(store, "csoft", "mp")
    assert view is not None and view["status"] == "undelivered" and view["partial"] and view["final"]


async def test_stuck_messages_get_a_synthetic_expired_and_a_late_real_final_replaces_it(store: Store) -> None:
    hours72 = LifecycleOptions(final_within=72 * 3600)
    conns = {"csoft": ("csoft", hours72)}
    await ls.register(store, [reg("silent", sent_at="2026-03-01T00:00:00Z", reference="o-9")])  # never a receipt
    await store.append(raw(), [status("seen", "sent", 0)])  # first seen now: not overdue yet
    await store.append(raw(), [status("done", "delivered", 0)])
    now = T0 + timedelta(hours=72)
    assert await sweep_once(store, conns, now=now, batch=1) == 1
    assert await sweep_once(store, conns, now=now) == 0  # once per message, ever
    view = await ls.describe(store, "csoft", "silent")
    assert view is not None and view["status"] == "expired" and view["synthetic"]
    [event] = view["events"]
    assert event["provider_status"] == "no_final_receipt" and event["details"]["synthetic"] is True
    assert event["reference"] == "o-9"
    [row] = await ls.stuck(store)
    assert row["message_id"] == "silent" and row["reference"] == "o-9"

    # the one exception to "first final wins": a real final after our own expired
    await store.append(raw(), [status("silent", "delivered", 72 * 60 + 5)])
    view = await ls.describe(store, "csoft", "silent")
    assert view is not None and view["status"] == "delivered" and not view["synthetic"]
    assert list(view["effects"].values()) == ["applied", "late_final"]
    assert await ls.stuck(store) == []
    # a later final after that is an ordinary conflict again
    await store.append(raw(), [status("silent", "failed", 72 * 60 + 9)])
    view = await ls.describe(store, "csoft", "silent")
    assert view is not None and view["status"] == "delivered" and view["conflict"]


async def test_a_synthetic_expired_is_not_stored_after_a_real_final(store: Store) -> None:
    await store.append(raw(), [status("x", "sent", 0)])
    await store.append(raw(), [status("x", "delivered", 1)])
    late = finalize([Event(type="status", message_id="x", status="expired", provider_status="no_final_receipt",
                           synthetic=True, occurred_at=T0)], "csoft", "csoft", datetime.now(UTC))
    result = await store.append(raw(), late)
    assert result.new == (False,)
    assert len(await store.events(EventQuery(message_id="x"))) == 2


async def test_one_sweeper_at_a_time(store: Store) -> None:
    other = same_database(store)
    await other.open()
    try:
        a = Sweeper(store, {}, interval=10)
        b = Sweeper(other, {}, interval=10)
        got = await asyncio.gather(ls.take_lease(store, "stuck-sweep", a.owner, 30),
                                   ls.take_lease(other, "stuck-sweep", b.owner, 30))
        assert sorted(got) == [False, True]
        holder, waiter = (a, b) if got[0] else (b, a)
        assert await ls.take_lease(holder.store, "stuck-sweep", holder.owner, 30)  # renewal
        await ls.drop_lease(holder.store, "stuck-sweep", holder.owner)
        assert await ls.take_lease(waiter.store, "stuck-sweep", waiter.owner, 30)
    finally:
        await other.close()


async def test_link_window_holds_deliveries_until_registration(store: Store) -> None:
    await store.put_subscription(Subscription("s1", "webhook", "http://127.0.0.1:9/", ("whsec_" + "A" * 40,),
                                              Filters()))
    store.link_windows = {"csoft": 30.0}
    try:
        before = time.time()
        await store.append(raw(), [status("held", "delivered", 1)])
        due = await store.next_due()
        assert due is not None and due >= before + 29
        await ls.register(store, [reg("held", reference="ref-h")])
        due = await store.next_due()
        assert due is not None and due <= time.time()
        claimed = await store.claim_deliveries("me", time.time(), 30, 10)
        assert [c.event["reference"] for c in claimed] == ["ref-h"]
        # a registered message's receipts are not held
        await store.append(raw(), [status("held", "read", 2)])
        due = await store.next_due()
        assert due is not None and due <= time.time()
    finally:
        store.link_windows = {}


def optout_events(text: str, sender: str = "447700900001", to: str = "12345") -> list[Event]:
    inbound = Event(type="inbound", from_=sender, to=to, text=text, occurred_at=T0 + timedelta(seconds=len(text)),
                    key_extra=uuid7())
    events = [inbound, *derive([inbound], LifecycleOptions())]
    return finalize(events, "csoft", "csoft", datetime.now(UTC))


async def test_optouts_check_and_list(store: Store) -> None:
    assert (await ls.check(store, "447700900001", None))["opted_out"] is False
    stored = optout_events("Stop please")
    await store.append(raw(), stored)
    found = await ls.check(store, "447700900001", "12345")
    assert found["opted_out"] is True and found["keyword"] == "STOP" and found["event_id"] == stored[1].id
    assert (await ls.check(store, "447700900001", "99999"))["opted_out"] is False  # another sender id
    assert (await ls.check(store, "447700900001", None))["opted_out"] is True
    assert [e["type"] for e in await store.events(EventQuery(type="optout"))] == ["optout"]

    await store.append(raw(), optout_events("START"))
    assert (await ls.check(store, "447700900001", "12345"))["opted_out"] is False
    await store.append(raw(), optout_events("stopall", sender="447700900002"))
    assert (await ls.check(store, "447700900002", "anything"))["opted_out"] is True
    listed = await ls.listing(store, None)
    assert [(r["phone"], r["sender"], r["keyword"]) for r in listed] == [("447700900002", None, "STOPALL")]
    assert (await ls.listing(store, "447700900001", include_optins=True))[0]["opted_out"] is False


async def test_two_sweepers_expire_each_message_once(store: Store) -> None:
    await ls.register(store, [reg(f"old{i}", sent_at="2020-01-01T00:00:00Z") for i in range(7)])
    other = same_database(store)
    await other.open()
    try:
        conns = {"csoft": ("csoft", LifecycleOptions())}
        a, b = Sweeper(store, conns, batch=3), Sweeper(other, conns, batch=3)
        done = await asyncio.gather(a.run_once(), b.run_once())
        assert sorted(done) == [0, 7]  # one holds the lease and sweeps every batch; the other waits its turn
        assert await b.run_once() + await a.run_once() == 0
        expired = await store.events(EventQuery(status="expired", limit=100))
        assert len(expired) == 7 and all(e["details"]["synthetic"] for e in expired)
    finally:
        await other.close()
