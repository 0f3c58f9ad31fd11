"""Erasure and retention meet the message lifecycle (issue 15), on every backend: registrations lose
the number, opt-outs outlive both the erasure (as a keyed hash) and the pruner, and a registration
goes with its message's events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from smshook.events import Event, iso
from smshook.lifecycle import registration
from smshook.lifecycle import store as ls
from smshook.privacy import ERASED, Retention
from smshook.storage import EventQuery, Store, privacy
from tests.storage.test_lifecycle import optout_events, raw, reg, status

NUMBER = "447700900123"
OTHER = "447700900999"
OURS = "12345"  # our number the subscriber writes to


async def dump(store: Store, *tables: str) -> str:
    """Every row of ``tables``, as text: the number must not be anywhere in it."""
    out = []
    for table in tables:
        out += await ls.read(store, lambda db, t=table: db.fetch(f"SELECT * FROM {t}"))
    return str(out)


def aged(events: list[Event], when: datetime) -> list[Event]:
    return [replace(e, received_at=when) for e in events]


async def test_erase_anonymizes_registrations(store: Store) -> None:
    mine = reg("m-1", to="+44 7700 900123", reference=f"order for {NUMBER}",
               metadata={"customer": {"phone": "+447700900123", "tags": ["call 0044 7700 900123"]}, "n": 7})
    theirs = reg("m-2", to=OTHER, reference="order 42", metadata={"phone": OTHER})
    from_it = reg("m-3", to=OTHER, **{"from": "+447700900123"})
    await ls.register(store, [mine, theirs, from_it])
    await store.append(raw(), [status("m-1", "delivered", to=NUMBER)])

    counts, _ = await privacy.erase(store, NUMBER)

    assert counts["registrations"] == 2 and counts["events"] == 1 and counts["optouts_kept"] == 0
    seen = await ls.describe(store, "csoft", "m-1")
    assert seen is not None and seen["registered"] and seen["status"] == "delivered"
    assert seen["to"] == ERASED and seen["reference"] == f"order for {ERASED}"
    assert seen["metadata"] == {"customer": {"phone": ERASED, "tags": [f"call {ERASED}"]}, "n": 7}
    assert all(e.get("reference") == seen["reference"] for e in seen["events"])  # enrichment follows
    third = await ls.describe(store, "csoft", "m-3")
    assert third is not None and third["from"] is None and third["to"] == OTHER
    other = await ls.describe(store, "csoft", "m-2")
    assert other is not None and other["to"] == OTHER and other["metadata"] == {"phone": OTHER}
    everything = await dump(store, "registrations", "message_links", "messages", "events")
    assert NUMBER not in everything and "7700 900123" not in everything
    assert (await privacy.erase(store, NUMBER))[0]["registrations"] == 0


async def test_an_opt_out_survives_erasure_as_a_keyed_hash(store: Store) -> None:
    stop = optout_events("Stop texting me", sender=NUMBER, to=OURS)
    await store.append(raw(), stop)
    await store.append(raw(), optout_events("STOP", sender=OTHER, to=OURS))

    counts, _ = await privacy.erase(store, NUMBER)

    assert counts["optouts_kept"] == 1 and counts["events"] == 2  # the inbound STOP and its optout event
    found = await ls.check(store, NUMBER, OURS)
    assert found["opted_out"] is True and found["erased"] is True and found["keyword"] == "STOP"
    assert found["event_id"] == stop[1].id and found["sender"] == OURS
    assert (await ls.check(store, NUMBER, "99999"))["opted_out"] is False  # scoped to the same sender
    assert (await ls.check(store, NUMBER, None))["opted_out"] is True
    assert (await ls.check(store, OTHER, OURS))["erased"] is False
    # the number is stored nowhere; the events lost it and the subscriber's words
    everything = await dump(store, "events", "erased_optouts", "privacy_key", "audit_log", "raw_requests")
    assert NUMBER not in everything
    anonymized = {e["id"]: e for e in await store.events(EventQuery(limit=50))}
    assert anonymized[stop[1].id]["from"] is None and anonymized[stop[1].id]["text"] is None
    assert anonymized[stop[1].id]["keyword"] == "STOP"
    # the listing shows it without the number
    listed = await ls.listing(store, None)
    assert [(r["phone"], r["sender"], r["erased"]) for r in listed] == [(OTHER, OURS, False), (None, OURS, True)]
    [scope] = await ls.listing(store, NUMBER)
    assert scope["erased"] is True and scope["opted_out"] is True and scope["sender"] == OURS
    assert len(await ls.listing(store, None, limit=1)) == 1
    assert [r["phone"] for r in await ls.listing(store, None, before=listed[0]["event_id"])] == [None]

    # START after the erasure opts back in (a new event, in clear: the person wrote again) ...
    await store.append(raw(), optout_events("START", sender=NUMBER, to=OURS))
    assert (await ls.check(store, NUMBER, OURS))["opted_out"] is False
    assert [r["phone"] for r in await ls.listing(store, None)] == [OTHER]
    # ... and STOP out again; a second erasure keeps the newer state
    await store.append(raw(), optout_events("STOP now", sender=NUMBER, to=OURS))
    assert [r["phone"] for r in await ls.listing(store, None)] == [NUMBER, OTHER]
    again, _ = await privacy.erase(store, NUMBER)
    assert again["optouts_kept"] == 1
    found = await ls.check(store, NUMBER, OURS)
    assert found["opted_out"] is True and found["erased"] is True
    assert [(r["phone"], r["erased"]) for r in await ls.listing(store, None)] == [(None, True), (OTHER, False)]
    assert NUMBER not in await dump(store, "events", "erased_optouts")


async def test_stopall_survives_erasure_for_every_sender(store: Store) -> None:
    await store.append(raw(), optout_events("STOPALL", sender=NUMBER, to=OURS))
    await store.append(raw(), optout_events("START", sender=NUMBER, to="777"))  # back in to one sender
    counts, _ = await privacy.erase(store, NUMBER)
    assert counts["optouts_kept"] == 2
    assert (await ls.check(store, NUMBER, "anything"))["opted_out"] is True
    assert (await ls.check(store, NUMBER, "777"))["opted_out"] is False
    [row] = await ls.listing(store, None)
    assert row["phone"] is None and row["sender"] is None and row["keyword"] == "STOPALL"


async def test_pruning_keeps_each_numbers_opt_out_state(store: Store) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=40)
    first_stop = aged(optout_events("STOP", sender=NUMBER, to=OURS), old)
    start = aged(optout_events("START again", sender=NUMBER, to=OURS), old)
    last_stop = aged(optout_events("STOP please", sender=NUMBER, to=OURS), old)
    everyone = aged(optout_events("STOPALL", sender=OTHER, to=OURS), old)
    back_in = aged(optout_events("START", sender=OTHER, to="777"), old)
    for events in (first_stop, start, last_stop, everyone, back_in):
        await store.append(raw(), events)
    retention = Retention(events=timedelta(days=30))

    dry = await privacy.prune(store, retention, dry_run=True, now=now)
    counts = await privacy.prune(store, retention, now=now)

    # 5 inbound messages and the 2 superseded changes of NUMBER go; the latest per scope stays
    assert counts["events"] == dry["events"] == 7
    left = {e["id"] for e in await store.events(EventQuery(limit=50))}
    assert left == {last_stop[1].id, everyone[1].id, back_in[1].id}
    assert (await ls.check(store, NUMBER, OURS))["event_id"] == last_stop[1].id
    assert (await ls.check(store, OTHER, "anything"))["opted_out"] is True
    assert (await ls.check(store, OTHER, "777"))["opted_out"] is False
    assert (await privacy.prune(store, retention, now=now))["events"] == 0

    # once erased, its anonymized events may go: the state is in erased_optouts
    await privacy.erase(store, NUMBER)
    assert (await privacy.prune(store, retention, now=now))["events"] == 1
    assert (await ls.check(store, NUMBER, OURS))["opted_out"] is True


def _registered(message_id: str, when: datetime, **kw: Any) -> registration.Registration:
    item = {"connection": "csoft", "message_id": message_id, "to": "+447700900123", **kw}
    return registration.parse(item, iso(when) or "", None)


async def test_registrations_go_with_their_messages_events(store: Store) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    gone = _registered("gone", old, parts=["g1", "g2"])
    silent = _registered("silent", old)  # no receipt ever: its pending status row goes with it
    half = _registered("half", old, parts=["h1", "h2"])  # one part heard of recently: all of it stays
    fresh = _registered("fresh", recent)
    await ls.register(store, [gone, silent, half, fresh])
    for pid in ("g1", "g2", "h1"):
        await store.append(raw(), aged([status(pid, "delivered")], old))
    await store.append(raw(), aged([status("h2", "delivered")], recent))
    await store.append(raw(), aged([status("fresh", "delivered")], recent))
    await store.append(raw(), aged([status("loose", "delivered")], old))  # never registered
    retention = Retention(events=timedelta(days=30))

    dry = await privacy.prune(store, retention, dry_run=True, now=now)
    counts = await privacy.prune(store, retention, now=now)

    assert dry["registrations"] == counts["registrations"] == 2
    assert counts["events"] == 4 and counts["messages"] == 4  # g1, g2, silent, loose
    assert await ls.describe(store, "csoft", "gone") is None and await ls.describe(store, "csoft", "g1") is None
    assert await ls.describe(store, "csoft", "silent") is None
    assert await store.message("csoft", "loose") is None
    kept = await ls.describe(store, "csoft", "half")
    assert kept is not None and [p["status"] for p in kept["parts"]] == ["delivered", "delivered"]
    assert (await ls.describe(store, "csoft", "fresh") or {}).get("registered") is True
    links = await ls.read(store, lambda db: db.fetch("SELECT message_id FROM message_links ORDER BY provider_id"))
    assert sorted({r[0] for r in links}) == ["fresh", "half"]
    # the part heard of recently keeps its registration; once its events go too, all of it goes
    later = now + timedelta(days=30)
    assert (await privacy.prune(store, retention, now=later))["registrations"] == 2
    assert await ls.read(store, lambda db: db.fetch("SELECT * FROM message_links")) == []
    assert await ls.read(store, lambda db: db.fetch("SELECT * FROM messages")) == []
