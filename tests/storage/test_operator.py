"""Backend suite, operator features: look-up by phone number, delivery statistics, re-processing
quarantined requests. Runs against every backend (see conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smshook.events import Event, finalize, iso, uuid7
from smshook.storage import EventQuery, RawRecord, Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NL = {"mccmnc": "20408", "operator": "KPN", "country": "NL"}


def raw(connection: str = "csoft", at: datetime = T0, body: bytes = b"x") -> RawRecord:
    return RawRecord(uuid7(), connection, "csoft", "POST", f"/hooks/{connection}", "", (), body, "127.0.0.1",
                     iso(at) or "")


async def put(store: Store, received: datetime, *events: Event, connection: str = "csoft") -> None:
    finalize(list(events), connection, "csoft", received)
    await store.append(raw(connection, received), list(events))


def st(message_id: str, status: str, occurred: datetime | None, failure_class: Any = None, **kw: Any) -> Event:
    return Event(type="status", message_id=message_id, status=status, provider_status=status, occurred_at=occurred,
                 failure_class=failure_class, **kw)


# -- phone look-up ---------------------------------------------------------------------------------


async def test_events_by_phone_matches_from_or_to(store: Store) -> None:
    await put(store, T0, Event(type="inbound", from_="31612345678", to="3197010", text="STOP"),
              Event(type="inbound", from_="31699999999", to="3197010", text="hi"),
              st("m1", "delivered", T0, to="31612345678"), st("m2", "delivered", T0, to="31600000000"))
    found = await store.events(EventQuery(phone="31612345678"))
    assert sorted((e["type"], e["from"], e["to"]) for e in found) == [
        ("inbound", "31612345678", "3197010"), ("status", None, "31612345678")]
    assert [e["text"] for e in await store.events(EventQuery(phone="31612345678", type="inbound"))] == ["STOP"]
    assert len(await store.events(EventQuery(phone="3197010"))) == 2
    assert await store.events(EventQuery(phone="3161234567")) == []  # whole numbers only


# -- statistics ------------------------------------------------------------------------------------


async def test_stats_funnel_rates_medians_and_buckets(store: Store) -> None:
    # Bucket 0 (12:00-12:10): m1 delivered after 4 s, m2 after 10 s (sent then delivered; read later),
    # m3 failed permanently, m4 still pending. Bucket 2: m5 expired (temporary), m6 delivered after 2 s.
    await put(store, T0 + timedelta(seconds=1), st("m1", "sent", T0, network=NL))
    await put(store, T0 + timedelta(seconds=5), st("m1", "delivered", T0 + timedelta(seconds=4)))
    await put(store, T0 + timedelta(seconds=2), st("m2", "sent", None))  # no provider time: received_at counts
    await put(store, T0 + timedelta(seconds=12), st("m2", "delivered", None), st("m2", "read", None))
    await put(store, T0 + timedelta(seconds=3), st("m3", "rejected", T0, "permanent", network=NL))
    await put(store, T0 + timedelta(seconds=3), st("m4", "sent", T0))
    t2 = T0 + timedelta(minutes=25)
    await put(store, t2, st("m5", "expired", t2, "temporary"))
    await put(store, t2, st("m6", "sent", t2), st("m6", "delivered", t2 + timedelta(seconds=2)))
    await put(store, T0 - timedelta(minutes=5), st("old", "sent", T0 - timedelta(minutes=5)))
    await put(store, T0 + timedelta(minutes=1), st("old", "delivered", T0 + timedelta(minutes=1)))  # first event before
    await put(store, T0 + timedelta(minutes=70), st("late", "delivered", None))  # after the window
    await put(store, T0 + timedelta(seconds=30), st("x", "delivered", T0), connection="other")
    await put(store, T0 + timedelta(seconds=40), Event(type="inbound", from_="1", to="2", text="hi"))

    result = await store.stats(iso(T0) or "", iso(T0 + timedelta(hours=1)) or "", 600)
    assert result["inbound"] == {"csoft": 1}
    assert [c["connection"] for c in result["connections"]] == ["csoft", "other"]
    csoft = result["connections"][0]
    assert csoft["provider"] == "csoft"
    assert csoft["messages"] == 6
    assert csoft["by_status"] == {"delivered": 2, "expired": 1, "read": 1, "rejected": 1, "sent": 1}
    assert csoft["funnel"] == {"sent": 6, "delivered": 3, "failed": 2, "pending": 1,
                               "failed_by_class": {"permanent": 1, "temporary": 1}}
    assert csoft["delivery_rate"] == 0.6
    assert csoft["median_time_to_delivery_s"] == 4.0  # of 4, 10 and 2 seconds
    series = csoft["series"]
    assert [p["t"] for p in series] == [iso(T0 + timedelta(minutes=10 * i)) for i in range(6)]
    assert [(p["messages"], p["delivered"], p["failed"]) for p in series] == [
        (4, 2, 1), (0, 0, 0), (2, 1, 1), (0, 0, 0), (0, 0, 0), (0, 0, 0)]
    assert series[0]["delivery_rate"] == round(2 / 3, 4) and series[1]["delivery_rate"] is None
    assert series[0]["median_time_to_delivery_s"] == 7.0  # mean of the middle two: 4 and 10
    assert series[2]["median_time_to_delivery_s"] == 2.0 and series[1]["median_time_to_delivery_s"] is None
    assert csoft["by_country"] == {"NL": {"messages": 2, "delivered": 1, "failed": 1, "delivery_rate": 0.5}}
    assert csoft["by_operator"] == {"KPN": {"messages": 2, "delivered": 1, "failed": 1, "delivery_rate": 0.5}}

    only = await store.stats(iso(T0) or "", iso(T0 + timedelta(hours=1)) or "", 600, connection="other")
    assert [c["connection"] for c in only["connections"]] == ["other"] and only["inbound"] == {}
    assert only["connections"][0]["funnel"]["delivered"] == 1


async def test_stats_of_an_empty_window(store: Store) -> None:
    result = await store.stats(iso(T0) or "", iso(T0 + timedelta(hours=1)) or "", 60)
    assert result == {"connections": [], "inbound": {}}


# -- re-processing the quarantine ------------------------------------------------------------------


async def test_resolve_quarantine_stores_events_once_and_keeps_the_entry(store: Store) -> None:
    qid = await store.quarantine(raw(body=b"MessageIdentifier=q1"), "Report: missing", 400)
    entry = await store.quarantine_entry(qid)
    assert entry is not None and entry["reprocessed_at"] is None and entry["reprocess_result"] is None
    assert entry["request"]["body"] == "MessageIdentifier=q1"
    assert await store.quarantine_entry("nope") is None

    await put(store, T0, st("q1", "sent", T0))  # one of them arrived meanwhile: a duplicate
    events = finalize([st("q1", "sent", T0), st("q1", "delivered", T0 + timedelta(seconds=3))], "csoft", "csoft",
                      T0 + timedelta(hours=1))
    result = await store.resolve_quarantine(qid, events, iso(T0 + timedelta(hours=1)) or "")
    assert result.new == (False, True)
    message = await store.message("csoft", "q1")
    assert message is not None and message["status"] == "delivered"
    [listed] = await store.quarantined()
    assert listed["id"] == qid and listed["reprocessed_at"] == iso(T0 + timedelta(hours=1))
    assert listed["reprocess_result"] == {"events": 1, "duplicates": 1}

    with pytest.raises(ValueError, match="re-processed already"):
        await store.resolve_quarantine(qid, events, iso(T0) or "")
    with pytest.raises(KeyError):
        await store.resolve_quarantine("nope", [], iso(T0) or "")
    assert len(await store.events(EventQuery(message_id="q1"))) == 2
