"""Erasure, retention and quarantine dismissal in the store, on every backend."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from smshook.events import iso, uuid7
from smshook.forwarding.model import DeliveryQuery, Outcome, Subscription
from smshook.privacy import ERASED, Retention, Scrubber, subscriber_digits
from smshook.storage import EventQuery, RawRecord, Store, privacy
from tests.forwarding.conftest import SECRET
from tests.storage.test_rejected import entry
from tests.storage.test_store import inbound, raw, status

NUMBER = "447700900123"
FORMS = ["+447700900123", "447700900123", "00447700900123", "+44 7700 900123", "+44-7700-900-123"]


def raw_at(when: datetime, connection: str = "csoft", body: bytes = b"x", query: str = "") -> RawRecord:
    return RawRecord(uuid7(), connection, "csoft", "POST", f"/hooks/{connection}", query,
                     (("content-type", "text/plain"),), body, "127.0.0.1", iso(when) or "")


@pytest.mark.parametrize("form", [*FORMS, "(+44) 7700 900 123", "0044 7700 900123"])
def test_every_written_form_is_the_same_subscriber(form: str) -> None:
    assert subscriber_digits(form) == NUMBER
    out = Scrubber(NUMBER).text(f"call {form} now")
    assert ERASED in out and not any(c.isdigit() for c in out), out


def test_url_encoded_forms_and_longer_numbers() -> None:
    s = Scrubber(NUMBER)
    assert s.data(b"SendTo=%2B447700900123&a=1") == b"SendTo=[erased]&a=1"
    assert s.data(b"to=%2B44+7700+900123") == b"to=[erased]"
    assert not s.holds("14477009001234") and not s.holds("order 4477009001")


@pytest.mark.parametrize("bad", ["", "abc", "12", "+44 7700 ABC"])
def test_not_a_phone_number(bad: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        subscriber_digits(bad)


async def test_erase_anonymizes_events_raw_requests_quarantine_and_deliveries(store: Store) -> None:
    await store.put_subscription(Subscription(id="all", kind="webhook", target="http://127.0.0.1:9/x",
                                              secrets=(SECRET,)))
    sms = inbound("hello, call me on +44 7700 900123", sender=NUMBER)
    receipt = status("m1", "delivered", to=NUMBER, details={"SendTo": "+447700900123", "Report": "0"})
    other = inbound("not me", sender="447700900999")
    body = b"Username=u&SendTo=%2B447700900123&Message=hello&ReplyTo=00447700900123"
    await store.append(raw(body=body, query="from=447700900123"), [sms, receipt])
    await store.append(raw(body=b"from=447700900999"), [other])
    qid = await store.quarantine(raw(body=b"<xml><to>+44-7700-900-123</to>"), "bad xml near +447700900123", 400)
    [delivery] = [d for d in await store.deliveries(DeliveryQuery(limit=50)) if d["event_id"] == receipt.id]
    claimed = await store.claim_deliveries("me", time.time(), 30, 50)
    assert claimed
    await store.record_attempt(delivery["id"], "me", Outcome("pending", time.time(), next_attempt_at=time.time() + 60,
                                                             error="HTTP 400: unknown number 447700900123"))

    counts, audit_id = await privacy.erase(store, subscriber_digits("+44 7700 900123"), "dpo@example.com")

    assert counts["events"] == 2 and counts["raw_requests"] == 2 and counts["quarantine"] == 1
    assert counts["deliveries"] >= 2
    events = {e["id"]: e for e in await store.events(EventQuery(limit=50))}
    assert events[sms.id]["from"] is None and events[sms.id]["text"] is None
    assert events[receipt.id]["to"] is None and events[receipt.id]["details"]["SendTo"] == ERASED
    assert events[other.id]["from"] == "447700900999" and events[other.id]["text"] == "not me"
    assert await store.events(EventQuery(phone=NUMBER)) == []
    entry = await store.quarantine_entry(qid)
    assert entry is not None and NUMBER not in str(entry) and "7700-900-123" not in str(entry)
    dump = str(await store.deliveries(DeliveryQuery(limit=50))) + str(await store.subscription_stats())
    assert NUMBER not in dump
    for q in await store.quarantined(50, state="all"):
        assert "900123" not in str(q["request"]) and "900-123" not in str(q["request"])
    [row] = await privacy.audit_rows(store, 1)
    assert row["id"] == audit_id and row["action"] == "erase" and row["actor"] == "dpo@example.com"
    assert row["detail"] == counts and NUMBER not in str(row)
    # the claimed delivery now carries the anonymized event
    again = await store.claim_deliveries("me2", time.time() + 3600, 30, 50)
    assert all(NUMBER not in str(c.event) for c in again)
    # erasing again finds nothing
    assert (await privacy.erase(store, NUMBER))[0]["events"] == 0


async def test_dismissed_quarantine_entries_are_kept_resolved_and_filtered(store: Store) -> None:
    first = await store.quarantine(raw(body=b"one"), "unreadable", 400)
    second = await store.quarantine(raw(body=b"two"), "unreadable", 400)
    assert await privacy.open_quarantine(store) == 2
    entry = await privacy.dismiss_quarantine(store, first, "ops@example.com", "test traffic")
    assert entry["open"] is False and entry["dismissed_by"] == "ops@example.com"
    assert entry["dismissed_reason"] == "test traffic" and entry["dismissed_at"]
    assert [q["id"] for q in await store.quarantined()] == [second]
    assert [q["id"] for q in await store.quarantined(state="dismissed")] == [first]
    assert {q["id"] for q in await store.quarantined(state="all")} == {first, second}
    assert await privacy.open_quarantine(store) == 1
    with pytest.raises(ValueError, match="dismissed already"):
        await privacy.dismiss_quarantine(store, first, "x", "y")
    with pytest.raises(KeyError):
        await privacy.dismiss_quarantine(store, "nope", "x", "y")


async def test_prune_deletes_expired_rows_in_batches_and_keeps_the_rest(store: Store) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    await store.put_subscription(Subscription(id="all", kind="webhook", target="http://127.0.0.1:9/x",
                                              secrets=(SECRET,)))
    old_events = [replace(status(f"old{i}", "delivered"), received_at=old) for i in range(25)]
    for i, event in enumerate(old_events):
        await store.append(raw_at(old, body=f"old{i}".encode()), [event])
    waiting = replace(status("waiting", "delivered"), received_at=old)  # its delivery is still pending
    await store.append(raw_at(old, body=b"waiting"), [waiting])
    fresh = replace(status("fresh", "delivered"), received_at=recent)
    await store.append(raw_at(recent), [fresh])
    open_q = await store.quarantine(raw_at(old, body=b"open"), "unreadable", 400)
    done_q = await store.quarantine(raw_at(old, body=b"dismissed"), "unreadable", 400)
    await privacy.dismiss_quarantine(store, done_q, "ops", "noise")
    # deliver everything but the "waiting" message's delivery
    for c in await store.claim_deliveries("me", time.time(), 30, 500):
        if c.event["message_id"] != "waiting":
            await store.record_attempt(c.id, "me", Outcome("delivered", time.time()))
    retention = Retention(events=timedelta(days=30), raw_requests=timedelta(days=30))

    dry = await privacy.prune(store, retention, dry_run=True, now=now)
    assert dry["events"] == 25 and dry["raw_requests"] == 27 and dry["quarantine"] == 1
    assert len(await store.events(EventQuery(limit=100))) == 27  # nothing deleted by a dry run

    pauses = 0

    async def pause() -> None:
        nonlocal pauses
        pauses += 1
        await asyncio.sleep(0)

    counts = await privacy.prune(store, retention, now=now, batch=10, pause=pause)
    assert counts == {"events": 25, "messages": 25, "deliveries": 25, "raw_requests": 27, "quarantine": 1,
                      "registrations": 0}
    assert pauses >= 3 + 2  # batches of 10, a pause after each
    left = {e["message_id"] for e in await store.events(EventQuery(limit=100))}
    assert left == {"waiting", "fresh"}
    assert await store.message("csoft", "old1") is None and await store.message("csoft", "fresh") is not None
    assert [q["id"] for q in await store.quarantined(state="all")] == [open_q]  # open entries keep their request
    assert [r["action"] for r in await privacy.audit_rows(store, 1)] == ["prune"]
    assert (await privacy.prune(store, retention, now=now)) == privacy.Pruned().counts()


async def test_per_connection_retention(store: Store) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=10)
    a = replace(status("a", "sent", connection="shop"), received_at=old)
    b = replace(status("b", "sent", connection="alerts"), received_at=old)
    await store.append(raw_at(old, "shop"), [a])
    await store.append(raw_at(old, "alerts"), [b])
    retention = Retention(events=None, connections={"shop": (timedelta(days=7), None)})
    counts = await privacy.prune(store, retention, now=now)
    assert counts["events"] == 1
    assert [e["connection"] for e in await store.events(EventQuery())] == ["alerts"]


async def test_write_probe(store: Store) -> None:
    await privacy.probe_write(store)
    await privacy.probe_write(store)


async def test_erase_reaches_the_rejected_requests_log(store: Store) -> None:
    mine = await store.record_rejected(entry(b"From=%2B447700900123&Body=hi&AuthToken=oops"))
    theirs = await store.record_rejected(entry(b"From=%2B447700900999&Body=hi"))
    counts, _ = await privacy.erase(store, NUMBER)
    assert counts["rejected"] == 1
    rows = {r["id"]: r for r in await store.rejected()}
    assert "900123" not in str(rows[mine]) and ERASED in str(rows[mine]) and "***" in str(rows[mine])
    assert "447700900999" in str(rows[theirs])
