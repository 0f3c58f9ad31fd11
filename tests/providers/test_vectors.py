"""One parametrized runner over every provider's test vectors.

A vector is a JSON file ``tests/providers/vectors/<provider>/<case>.json``::

    {
      "description": "what this case shows (quote the seed or the trap in providers.md)",
      "connection": {"username": "u", "pin": "p", "timezone": "UTC"},     # optional options
      "request": {
        "method": "POST",                                # default POST
        "query": "A=1&B=2",                              # optional raw query string
        "headers": {"content-type": "text/html"},        # optional
        "body": "raw body as text"                       # or "body_base64" for non-UTF-8 bytes,
      },                                                 # or "body_json" (dumped compactly)
      "events": [ { ...public fields... } ],             # expected, without id/received_at/connection/provider;
                                                         # fields left out must be null / "sms" / {} defaults
      "response": {"status": 200, "body": "...", "content_type": "..."},   # answer once stored
      "unavailable": {"status": 503, "body": "..."},     # optional: answer when the store is down
      "error": {"status": 400, "contains": "Report"}     # instead of events/response: a rejected request
    }

``response.body`` may be replaced by ``body_json`` to compare JSON answers structurally.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from smshook.errors import ProviderError
from smshook.events import Event, finalize
from smshook.providers import get, registry
from smshook.providers.base import ConnectionInfo, Outcome, RawRequest

VECTORS = Path(__file__).parent / "vectors"
CASES = sorted(VECTORS.glob("*/*.json"))
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)

DEFAULTS: dict[str, Any] = {
    "message_id": None, "status": None, "provider_status": None, "failure_class": None, "channel": "sms",
    "from": None, "to": None, "text": None, "keyword": None, "reply_to": None, "reference": None,
    "occurred_at": None, "price": None, "currency": None, "network": None, "details": {},
}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def build_request(spec: dict[str, Any], slug: str) -> RawRequest:
    if "body_base64" in spec:
        body = base64.b64decode(spec["body_base64"])
    elif "body_json" in spec:
        body = json.dumps(spec["body_json"], ensure_ascii=False).encode()
    else:
        body = spec.get("body", "").encode("utf-8")
    headers = tuple((k.lower(), v) for k, v in spec.get("headers", {}).items())
    return RawRequest(
        method=spec.get("method", "POST"),
        path=f"/hooks/{slug}",
        query=spec.get("query", "").encode("latin-1"),
        headers=headers,
        body=body,
        client="127.0.0.1",
    )


def connection_for(slug: str, vector: dict[str, Any]) -> ConnectionInfo:
    options = dict(vector.get("connection", {}))
    tz = options.pop("timezone", None)
    return ConnectionInfo(name=slug, provider=slug, options=options, timezone=tz)


def public(event: Event) -> dict[str, Any]:
    data = event.to_public()
    for key in ("id", "received_at", "connection", "provider"):
        data.pop(key)
    return data


def check_response(actual: Any, expected: dict[str, Any]) -> None:
    assert actual.status == expected.get("status", 200)
    if "body_json" in expected:
        assert json.loads(actual.body) == expected["body_json"]
    elif "body" in expected:
        assert actual.body.decode() == expected["body"]
    if "content_type" in expected:
        assert actual.content_type == expected["content_type"]


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_vector(path: Path) -> None:
    slug = path.parent.name
    vector = load(path)
    provider = get(slug)
    request = build_request(vector["request"], slug)
    assert request.method in provider.methods or "error" in vector, "vector uses a method the provider refuses"
    connection = connection_for(slug, vector)

    if "error" in vector:
        with pytest.raises(ProviderError) as caught:
            provider.parse(request, connection)
        expected = vector["error"]
        assert caught.value.status == expected["status"]
        assert expected.get("contains", "").lower() in caught.value.message.lower()
        if "response" in vector:
            check_response(provider.reject(request, caught.value), vector["response"])
        return

    events = finalize(provider.parse(request, connection), slug, slug, RECEIVED)
    assert [public(e) for e in events] == [{**DEFAULTS, **e} for e in vector["events"]]
    check_response(provider.acknowledge(request, Outcome(events, True, len(events), 0)), vector["response"])
    if "unavailable" in vector:
        check_response(provider.acknowledge(request, Outcome(events, False)), vector["unavailable"])


def test_every_provider_has_vectors() -> None:
    assert {p.parent.name for p in CASES} >= set(registry())


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_vector_is_deterministic(path: Path) -> None:
    """Parsing the same request twice gives the same idempotency keys: a retry is recognised."""
    slug = path.parent.name
    vector = load(path)
    if "error" in vector:
        return
    provider = get(slug)
    request = build_request(vector["request"], slug)
    connection = connection_for(slug, vector)
    first = finalize(provider.parse(request, connection), slug, slug, RECEIVED)
    again = finalize(provider.parse(request, connection), slug, slug, datetime.now(UTC))
    assert [e.key for e in first] == [e.key for e in again]
    assert len({e.key for e in first}) == len(first), "two events of one request share a key"
