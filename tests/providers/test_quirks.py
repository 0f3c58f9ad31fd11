"""Provider quirks that a single vector cannot show."""

from __future__ import annotations

from datetime import UTC, datetime

from smshook.events import finalize
from smshook.providers import get
from smshook.providers.base import ConnectionInfo, RawRequest

BULKGATE = ConnectionInfo("bulkgate", "bulkgate")


def keys(body: bytes) -> list[bytes]:
    request = RawRequest("POST", "/hooks/bulkgate", body=body)
    events = get("bulkgate").parse(request, BULKGATE)
    return [e.key for e in finalize(events, "bulkgate", "bulkgate", datetime.now(UTC))]


def test_bulkgate_equal_inbound_texts_in_different_batches_are_two_messages() -> None:
    """Batched inbound rows carry no id and no time: a resend of the same request is a retry, but the
    same text from the same sender in another batch is a new message."""
    one = b'[{"status":"10","from":"420777777777","message":"YES"}]'
    other = b'[{"status":"1","smsID":"x"},{"status":"10","from":"420777777777","message":"YES"}]'
    assert keys(one) == keys(one)
    assert keys(one)[0] != keys(other)[1]
    twice = b'[{"status":"10","from":"4207","message":"YES"},{"status":"10","from":"4207","message":"YES"}]'
    assert len(set(keys(twice))) == 2
