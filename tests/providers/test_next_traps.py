"""Traps of Telnyx, Sinch, MessageBird and Infobip that one vector alone cannot show: retries are
recognised across attempts, recipients of one message stay distinct, raw bodies are never re-encoded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from smshook.events import finalize
from smshook.providers import get
from smshook.providers.base import ConnectionInfo, RawRequest

VECTORS = Path(__file__).parent / "vectors"
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)


def keys(slug: str, body: bytes, method: str = "POST", query: bytes = b"") -> list[bytes]:
    request = RawRequest(method, f"/hooks/{slug}", query, (), body)
    events = finalize(get(slug).parse(request, ConnectionInfo(slug, slug)), slug, slug, RECEIVED)
    return [e.key for e in events]


def vector_body(slug: str, name: str) -> bytes:
    spec = json.loads((VECTORS / slug / f"{name}.json").read_text("utf-8"))["request"]
    return (json.dumps(spec["body_json"], ensure_ascii=False) if "body_json" in spec else spec["body"]).encode()


def test_telnyx_retry_is_the_same_event() -> None:
    """meta.attempt 2 of the same webhook (same data.id) is recognised as the first one."""
    assert keys("telnyx", vector_body("telnyx", "finalized_delivered")) == \
        keys("telnyx", vector_body("telnyx", "retry_attempt"))


def test_telnyx_sent_and_finalized_are_two_events() -> None:
    sent = keys("telnyx", vector_body("telnyx", "message_sent"))
    final = keys("telnyx", vector_body("telnyx", "finalized_delivered"))
    assert len(sent) == len(final) == 1 and sent != final


def test_telnyx_recipients_of_one_message_are_distinct_events() -> None:
    group = keys("telnyx", vector_body("telnyx", "group_mms_recipients"))
    assert len(group) == len(set(group)) == 3


def test_sinch_summary_reports_with_new_counts_are_new_events() -> None:
    def summary(delivered: int) -> bytes:
        return json.dumps({"type": "delivery_report_sms", "batch_id": "B", "total_message_count": 10,
                           "statuses": [{"code": 0, "count": delivered, "status": "Delivered"}]}).encode()

    assert keys("sinch", summary(4)) != keys("sinch", summary(9))
    assert keys("sinch", summary(9)) == keys("sinch", summary(9))


def test_infobip_one_event_per_result_even_for_equal_items() -> None:
    """Two reports of one message to two numbers (one bulk) stay two events."""
    item = {"messageId": "m", "status": {"groupName": "DELIVERED"}}
    body = json.dumps({"results": [{**item, "to": "1"}, {**item, "to": "2"}]}).encode()
    assert len(set(keys("infobip", body))) == 2


def test_messagebird_price_keys_with_brackets_raw_or_encoded() -> None:
    """``price[amount]`` arrives percent-encoded (``price%5Bamount%5D``) or raw: read the same."""
    base = "id=1&recipient=31612345678&status=delivered&"
    for prices in ("price%5Bamount%5D=0.07&price%5Bcurrency%5D=EUR", "price[amount]=0.07&price[currency]=EUR"):
        query = base + prices
        request = RawRequest("GET", "/hooks/messagebird", query.encode(), (), b"")
        [event] = get("messagebird").parse(request, ConnectionInfo("mb", "messagebird"))
        assert (event.price, event.currency) == ("0.07", "EUR")
