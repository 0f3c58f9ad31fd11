"""Provider quirks that a single vector cannot show."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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


@pytest.mark.parametrize(("vector", "zone", "submitted"), [
    ("jasmin/dlr_level2_delivered", None, datetime(2013, 5, 5, 8, 26, tzinfo=UTC)),  # subdate=1305050826
    ("kannel/dlr_smpp_undeliv", None, datetime(2026, 12, 3, 9, 50, tzinfo=UTC)),  # submit date:2612030950
    ("kannel/dlr_smpp_undeliv", "Europe/Prague", datetime(2026, 12, 3, 8, 50, tzinfo=UTC)),  # the SMSC's time
])
def test_smpp_submit_date_starts_the_time_to_delivery(vector: str, zone: str | None, submitted: datetime) -> None:
    """Jasmin's subdate and the submit date in a Kannel receipt text are the provider's own submit time:
    the start of a lone receipt's time to delivery (smshook.lifecycle), in the SMSC's zone."""
    from dataclasses import replace

    from tests.providers.test_vectors import VECTORS, build_request, connection_for, load

    slug = vector.split("/")[0]
    spec = load(VECTORS / f"{vector}.json")
    connection = connection_for(slug, spec)
    if zone is not None:
        connection = replace(connection, timezone=zone)
    [event] = get(slug).parse(build_request(spec["request"], slug, spec), connection)
    assert event.submitted_at == submitted


FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in "2612030950")  # the same date in full-width digits


@pytest.mark.parametrize("text", ["", "ND", "26120309", "2613450950", FULL_WIDTH])
def test_an_unreadable_submit_date_is_ignored(text: str) -> None:
    """It only adds information: a receipt is never refused for it."""
    from smshook.providers import smpp

    assert smpp.submit_time(text, "UTC") is None
