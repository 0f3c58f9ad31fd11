"""One parametrized runner over every provider's test vectors.

A vector is a JSON file ``tests/providers/vectors/<provider>/<case>.json``::

    {
      "description": "what this case shows (quote the seed or the trap in providers.md)",
      "connection": {"auth_token": "…", "public_url": "https://…", "timezone": "UTC"},
                                                         # optional: the [connections.NAME] keys, validated
                                                         # by the settings model (secrets included)
      "now": 1700000000,                                 # optional: the clock for replay windows (Unix
                                                         # seconds or ISO 8601; default 2026-01-01T00:00Z)
      "request": {
        "method": "POST",                                # default POST
        "url": "https://example.com/hooks/x?A=1",        # optional: the URL the provider called (and
                                                         # signed); its query is the request's query
        "query": "A=1&B=2",                              # optional raw query string (without "url")
        "headers": {"content-type": "text/html"},        # optional
        "body": "raw body as text"                       # or "body_base64" for non-UTF-8 bytes,
      },                                                 # or "body_json" (dumped compactly)
      "events": [ { ...public fields... } ],             # expected, without id/received_at/connection/provider;
                                                         # fields left out must be null / "sms" / {} defaults
      "response": {"status": 200, "body": "...", "content_type": "..."},   # answer once stored
      "unavailable": {"status": 503, "body": "..."},     # optional: answer when the store is down
      "error": {"status": 400, "contains": "Report"},    # instead of events/response: a refused request;
                                                         # "rejected": true (and optional "reason") when
                                                         # verify() refuses it (SignatureError)
      "signed": {"parts": ["body", "url", "query", "header:x-sig"], "window": 300}
                                                         # optional, on an accepted vector: changing one
                                                         # byte of each listed part must make verify()
                                                         # refuse it; "window": a clock that far (+1 s)
                                                         # away must too (reason "stale")
    }

The URL the adapter sees (``RawRequest.url``) is built as the hook path builds it: the connection's
``public_url`` plus the query as received when set, else ``request.url``, else
``https://smshook.example/hooks/<provider>`` plus the query.
``response.body`` may be replaced by ``body_json`` to compare JSON answers structurally.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from smshook.errors import ProviderError, SignatureError
from smshook.events import Event, finalize
from smshook.providers import get, registry
from smshook.providers.base import ConnectionInfo, Outcome, RawRequest, context_of, declared_options
from smshook.settings import Connection
from smshook.web.public_url import configured

VECTORS = Path(__file__).parent / "vectors"
CASES = sorted(VECTORS.glob("*/*.json"))
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_BASE = "https://smshook.example/hooks/"

DEFAULTS: dict[str, Any] = {
    "message_id": None, "status": None, "provider_status": None, "failure_class": None, "channel": "sms",
    "from": None, "to": None, "text": None, "keyword": None, "reply_to": None, "reference": None,
    "occurred_at": None, "price": None, "currency": None, "network": None, "details": {},
}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def clock(vector: dict[str, Any]) -> datetime:
    now = vector.get("now")
    if now is None:
        return RECEIVED
    if isinstance(now, int | float):
        return datetime.fromtimestamp(now, UTC)
    return datetime.fromisoformat(str(now).replace("Z", "+00:00"))


def build_request(spec: dict[str, Any], slug: str, vector: dict[str, Any] | None = None) -> RawRequest:
    if "body_base64" in spec:
        body = base64.b64decode(spec["body_base64"])
    elif "body_json" in spec:
        body = json.dumps(spec["body_json"], ensure_ascii=False).encode()
    else:
        body = spec.get("body", "").encode("utf-8")
    headers = tuple((k.lower(), v) for k, v in spec.get("headers", {}).items())
    if "url" in spec:
        url = spec["url"]
        query = spec.get("query", urlsplit(url).query)
    else:
        query = spec.get("query", "")
        url = f"{DEFAULT_BASE}{slug}" + (f"?{query}" if query else "")
    public_url = ((vector or {}).get("connection") or {}).get("public_url")
    if public_url:
        url = configured(public_url, query.encode("latin-1"))
    return RawRequest(
        method=spec.get("method", "POST"),
        path=urlsplit(url).path if "url" in spec else f"/hooks/{slug}",
        query=query.encode("latin-1"),
        headers=headers,
        body=body,
        client="127.0.0.1",
        url=url,
        received=clock(vector or {}),
    )


def connection_for(slug: str, vector: dict[str, Any]) -> ConnectionInfo:
    """The connection as the settings model builds it from the vector's keys (validated, secrets
    as the adapter sees them in production)."""
    return Connection(provider=slug, **vector.get("connection", {})).info(slug)


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


def read(provider: Any, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
    """What the hook path does before storing: verify, then parse."""
    provider.verify(request, connection)
    parsed: list[Event] = provider.parse(request, connection)
    return parsed


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_vector(path: Path) -> None:
    slug = path.parent.name
    vector = load(path)
    provider = get(slug)
    request = build_request(vector["request"], slug, vector)
    assert request.method in provider.methods or "error" in vector, "vector uses a method the provider refuses"
    connection = connection_for(slug, vector)

    if "error" in vector:
        expected = vector["error"]
        with pytest.raises(ProviderError) as caught:
            read(provider, request, connection)
        assert caught.value.status == expected["status"]
        assert expected.get("contains", "").lower() in caught.value.message.lower()
        if expected.get("rejected"):
            assert isinstance(caught.value, SignatureError), "expected verify() to refuse it"
            if "reason" in expected:
                assert caught.value.reason == expected["reason"]
        if "response" in vector:
            check_response(provider.reject(request, caught.value), vector["response"])
        return

    parsed = read(provider, request, connection)
    events = finalize(parsed, slug, slug, RECEIVED)
    context = context_of(parsed)
    assert [public(e) for e in events] == [{**DEFAULTS, **e} for e in vector["events"]]
    check_response(provider.acknowledge(request, Outcome(events, True, len(events), 0, context)), vector["response"])
    if "unavailable" in vector:
        check_response(provider.acknowledge(request, Outcome(events, False, context=context)), vector["unavailable"])


def test_every_provider_has_vectors() -> None:
    assert {p.parent.name for p in CASES} >= set(registry())


def test_signing_providers_have_signed_vectors() -> None:
    """A provider with a secret option has vectors that verify() refuses and, when it checks a
    signature (``auth_kind``), accepted vectors marked ``signed`` (tampering tested below)."""
    for slug, provider in registry().items():
        if not any(o.secret for o in declared_options(provider)):
            continue
        vectors = [load(p) for p in CASES if p.parent.name == slug]
        if provider.auth_kind == "signature":
            assert any("signed" in v for v in vectors), f"{slug}: no vector marked 'signed'"
        assert any(v.get("error", {}).get("rejected") for v in vectors), f"{slug}: no vector verify() refuses"


def _changed(text: str, at: int) -> str:
    return text[:at] + ("Y" if text[at] == "X" else "X") + text[at + 1:]


def tampered(request: RawRequest, part: str) -> RawRequest:
    """``request`` with one byte of ``part`` changed."""
    if part == "body":
        assert request.body, "'body' listed as signed but the vector has none"
        i = len(request.body) // 2
        return replace(request, body=request.body[:i] + (b"Y" if request.body[i:i + 1] == b"X" else b"X")
                       + request.body[i + 1:])
    if part == "url":
        base, sep, query = request.url.partition("?")
        return replace(request, url=f"{base}x{sep}{query}")
    if part == "query":
        query = request.query.decode("latin-1")
        new = _changed(query, len(query) - 1) if query else "x=1"
        base = request.url.partition("?")[0]
        return replace(request, query=new.encode("latin-1"), url=f"{base}?{new}")
    assert part.startswith("header:"), f"unknown signed part {part!r}"
    name = part.removeprefix("header:").lower()
    headers = list(request.headers)
    for i, (key, value) in enumerate(headers):
        if key == name:
            headers[i] = (key, _changed(value, len(value) // 2))
            return replace(request, headers=tuple(headers))
    raise AssertionError(f"header {name!r} listed as signed but not in the request")


SIGNED = [p for p in CASES if "signed" in load(p)]


@pytest.mark.parametrize("path", SIGNED, ids=[f"{p.parent.name}/{p.stem}" for p in SIGNED])
def test_signed_vector_refuses_tampering(path: Path) -> None:
    slug = path.parent.name
    vector = load(path)
    provider = get(slug)
    request = build_request(vector["request"], slug, vector)
    connection = connection_for(slug, vector)
    provider.verify(request, connection)  # the original passes
    for part in vector["signed"]["parts"]:
        with pytest.raises(SignatureError):
            provider.verify(tampered(request, part), connection)
            pytest.fail(f"{part}: a changed byte was accepted")
    window = vector["signed"].get("window")
    if window is not None:
        for sign in (1, -1):
            late = replace(request, received=request.now() + sign * timedelta(seconds=window + 1))
            with pytest.raises(SignatureError) as caught:
                provider.verify(late, connection)
            assert caught.value.reason == "stale"


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_vector_is_deterministic(path: Path) -> None:
    """Parsing the same request twice gives the same idempotency keys: a retry is recognised."""
    slug = path.parent.name
    vector = load(path)
    if "error" in vector:
        return
    provider = get(slug)
    request = build_request(vector["request"], slug, vector)
    connection = connection_for(slug, vector)
    first = finalize(provider.parse(request, connection), slug, slug, RECEIVED)
    again = finalize(provider.parse(request, connection), slug, slug, datetime.now(UTC))
    assert [e.key for e in first] == [e.key for e in again]
    assert len({e.key for e in first}) == len(first), "two events of one request share a key"
