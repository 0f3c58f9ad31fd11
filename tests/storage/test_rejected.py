"""The rejected-requests log on every backend: masked entries, attempts of identical requests,
newest first with a cursor and a connection filter, and a bounded size."""

from __future__ import annotations

import pytest

from smshook import rejected
from smshook.providers.base import RawRequest
from smshook.storage import Store


def entry(body: bytes, connection: str = "tw",
          received: str = "2026-01-01T00:00:00.000000Z") -> rejected.RejectedRecord:
    request = RawRequest("POST", "/hooks/tw/SECRET-TOKEN-123456", b"a=1&token=abc", (
        ("x-twilio-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8="), ("authorization", "Basic dXNlcjpwYXNz"),
        ("content-type", "application/x-www-form-urlencoded")), body, "203.0.113.9",
        "https://sms.example.com/hooks/tw/SECRET-TOKEN-123456?a=1&token=abc")
    return rejected.record(connection, "twilio", request, "signature", "X-Twilio-Signature does not match", 403,
                           received, "/hooks/tw/***", "SECRET-TOKEN-123456")


async def test_entries_are_masked_counted_and_listed(store: Store) -> None:
    first = await store.record_rejected(entry(b"Body=hi&AuthToken=oops\x00"))
    again = await store.record_rejected(entry(b"Body=hi&AuthToken=oops\x00", received="2026-01-01T00:00:05.000000Z"))
    other = await store.record_rejected(entry(b"Body=other", connection="pl"))
    assert first == again != other
    rows = await store.rejected()
    assert [r["id"] for r in rows] == [other, first]
    row = rows[1]
    assert row["attempts"] == 2 and row["first_seen"] < row["last_seen"] and row["http_status"] == 403
    assert (row["connection"], row["provider"], row["reason"]) == ("tw", "twilio", "signature")
    req = row["request"]
    assert req["url"] == "https://sms.example.com/hooks/tw/***?a=1&token=***"
    assert req["path"] == "/hooks/tw/***" and req["query"] == "a=1&token=***"
    assert req["body"].startswith("Body=hi&AuthToken=***") and not req["body_truncated"]
    headers = dict(req["headers"])
    assert headers["authorization"] == "***" and headers["x-twilio-signature"] == "RSOYDt…***"
    assert "SECRET-TOKEN" not in str(rows) and "oops" not in str(rows)
    assert [r["id"] for r in await store.rejected(connection="pl")] == [other]
    assert [r["id"] for r in await store.rejected(limit=5, before=other)] == [first]


async def test_the_log_is_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import smshook.storage.postgres
    import smshook.storage.sqlite

    monkeypatch.setattr(smshook.storage.sqlite, "REJECTED_KEEP", 3)
    monkeypatch.setattr(smshook.storage.postgres, "REJECTED_KEEP", 3)
    ids = [await store.record_rejected(entry(f"n={i}".encode())) for i in range(5)]
    assert [r["id"] for r in await store.rejected()] == ids[:1:-1]
    big = entry(b"x" * (rejected.MAX_BODY + 10))
    assert big.body_truncated and len(big.body) == rejected.MAX_BODY


async def test_a_date_range_selects_by_first_seen(store: Store) -> None:
    """The dashboard's Rejected page has a date range like every other list (GET /v1/rejected?since&until);
    times as the hook path stores them (:func:`smshook.events.iso`)."""
    early = await store.record_rejected(entry(b"n=1", received="2026-01-01T00:00:00Z"))
    await store.record_rejected(entry(b"n=1", received="2026-01-03T00:00:00Z"))  # same request: first seen stays
    late = await store.record_rejected(entry(b"n=2", received="2026-01-02T12:00:00.250Z"))
    assert [r["id"] for r in await store.rejected(since="2026-01-02T00:00:00Z")] == [late]
    assert [r["id"] for r in await store.rejected(until="2026-01-02T00:00:00Z")] == [early]
    assert [r["id"] for r in await store.rejected(since="2026-01-01T00:00:00Z", until="2026-01-03T00:00:00Z")] == [
        late, early]
    assert await store.rejected(since="2026-01-02T00:00:00Z", connection="pl") == []
