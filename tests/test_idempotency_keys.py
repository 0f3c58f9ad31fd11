"""The idempotency key must never change: a provider's retry of a callback stored before an upgrade has
to be recognised after it. These keys were computed with smshook's code before the storage time format
became fixed-width (issue 12); the key keeps its own frozen time formatter (:func:`events.key_time`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from smshook.events import Event, idempotency_key

CASES: list[tuple[Event, str]] = [
    (Event(type="status", message_id="m-1", provider_status="DELIVRD",
           occurred_at=datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)),
     "9575e0b50c50c81e60df932038bdfda4"),
    (Event(type="status", message_id="m-1", provider_status="DELIVRD",
           occurred_at=datetime(2026, 12, 3, 12, 0, 0, 123000, tzinfo=UTC)),
     "c1ddbcedadf7ec4f7609a58fa1b1b505"),
    # microseconds are cut to milliseconds: the same key as .123
    (Event(type="status", message_id="m-1", provider_status="DELIVRD",
           occurred_at=datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)),
     "c1ddbcedadf7ec4f7609a58fa1b1b505"),
    # another zone is converted to UTC first (12:00:00Z)
    (Event(type="status", message_id="m-2", provider_status="3", channel="viber",
           occurred_at=datetime(2026, 12, 3, 13, 0, 0, tzinfo=timezone(timedelta(hours=1))), key_extra="id:abc"),
     "4e2253cd6a25a2319e8bccd31d41a265"),
    (Event(type="status", message_id="m-3", provider_status="failed"),
     "3df4d3b950c704c10b2ad5d1d2bc3b7f"),
    (Event(type="inbound", message_id="in-1", from_="31612345678", to="3197010", text="STOP now",
           occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
     "43010548637f989c7ee8e9b136194873"),
    (Event(type="inbound", from_="31612345678", to="3197010", text="h\u00e9llo"),
     "e94380d88cb6120c561c242284d23649"),
]


@pytest.mark.parametrize(("event", "key"), CASES)
def test_idempotency_keys_are_pinned(event: Event, key: str) -> None:
    event.connection = "main"
    assert idempotency_key(event).hex() == key
