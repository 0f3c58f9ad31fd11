"""The authenticity contract end to end in-process, with a small signing provider: declared options,
verify() before parse, the URL it checks (public_url, trusted proxy headers, the request), the 401,
the rejected-requests log and its counter, and acknowledge() getting parse's context."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook import providers
from smshook.app import SmshookApp
from smshook.errors import ConfigError, SignatureError
from smshook.events import Event
from smshook.providers import signing
from smshook.providers.base import ConnectionInfo, Option, Outcome, Parsed, Provider, RawRequest, Response
from smshook.settings import check_exposure, load_settings
from smshook.storage.sqlite import SQLiteStore
from smshook.web.hooks import connections_from

SECRET = "demo-signing-secret-0123456789"


class Demo(Provider):
    """Signs ``url + "|" + timestamp + "|" + body`` with HMAC-SHA256 (hex) in X-Demo-Signature."""

    slug = "demo"
    name = "Demo"
    methods = frozenset({"GET", "POST"})
    options = (
        Option("secret", secret=True, doc="Signing secret."),
        Option("mode", choices=("a", "b"), default="a", doc="A choice."),
        Option("retries", type=int, doc="An integer."),
    )

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return "secret" in connection.options

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        secret = connection.options.get("secret")
        if secret is None:
            return
        stamp = request.header("x-demo-timestamp")
        signing.fresh(request, stamp or None)
        given = request.header("x-demo-signature")
        if not given:
            raise SignatureError("no X-Demo-Signature header", reason="missing")
        if not signing.same(given.lower(), sign(secret, request.url, stamp, request.body)):
            raise SignatureError(f"X-Demo-Signature does not match {request.url}")

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        text = request.body.decode()
        return Parsed([Event(type="inbound", message_id=f"m-{text}", text=text)], context=text.upper())

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        return Response(200 if outcome.stored else 503, f"ack:{outcome.context}".encode())


def sign(secret: str, url: str, stamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{url}|{stamp}|".encode() + body, hashlib.sha256).hexdigest()


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(providers.registry(), "demo", Demo())
    yield


Client = Any


@pytest.fixture
async def connect(demo: None, tmp_path: Path) -> AsyncIterator[Client]:
    @asynccontextmanager
    async def make(peer: str = "127.0.0.1", trusted: str = "", **conn: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = load_settings(database=f"sqlite:///{tmp_path / 'x.db'}", trusted_proxies=trusted,
                                 connections={"d": {"provider": "demo", "secret": SECRET, **conn}})
        app = SmshookApp(settings, SQLiteStore(tmp_path / "x.db"))
        await app.store.open()
        try:
            transport = httpx.ASGITransport(app, client=(peer, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client
        finally:
            await app.store.close()

    yield make


def signed(url: str, body: bytes, stamp: str | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = stamp or str(int(time.time()))
    return {"x-demo-timestamp": stamp, "x-demo-signature": sign(secret, url, stamp, body)}


async def test_valid_signature_is_stored_and_answered_with_parse_context(connect: Client) -> None:
    async with connect() as c:
        r = await c.post("/hooks/d?a=1", content=b"hello", headers=signed("http://t/hooks/d?a=1", b"hello"))
        assert r.status_code == 200 and r.text == "ack:HELLO"
        events = (await c.get("/v1/events")).json()["data"]
        assert [e["text"] for e in events] == ["hello"]
        assert (await c.get("/v1/rejected")).json()["data"] == []


async def test_bad_signature_is_refused_logged_masked_and_counted(connect: Client) -> None:
    async with connect() as c:
        headers = {**signed("http://t/hooks/d", b"hello"), "authorization": "Bearer top-secret-value"}
        for _ in range(2):  # a retry counts an attempt on the same entry
            r = await c.post("/hooks/d", content=b"hellO&pin=1234", headers=headers)
            assert r.status_code == 401 and "does not match http://t/hooks/d" in r.text
        stale = signed("http://t/hooks/d", b"x", stamp=str(int(time.time()) - 3600))
        assert (await c.post("/hooks/d", content=b"x", headers=stale)).status_code == 401
        assert (await c.post("/hooks/d", content=b"y")).status_code == 401
        assert (await c.get("/v1/events")).json()["data"] == []
        rows = (await c.get("/v1/rejected")).json()["data"]
        assert [r["reason"] for r in rows] == ["missing", "stale", "signature"]
        bad = rows[2]
        assert bad["attempts"] == 2 and bad["http_status"] == 401 and bad["connection"] == "d"
        assert bad["provider"] == "demo" and "does not match" in bad["message"]
        request = bad["request"]
        assert request["url"] == "http://t/hooks/d" and request["method"] == "POST"
        shown = dict(request["headers"])
        assert shown["authorization"] == "***" and "top-secret" not in str(rows)
        assert shown["x-demo-signature"].endswith("…***") and shown["x-demo-timestamp"]
        assert request["body"] == "hellO&pin=***"  # secret-looking form fields masked
        page = (await c.get("/v1/rejected", params={"limit": 1})).json()
        assert len(page["data"]) == 1 and page["next_cursor"] == rows[0]["id"]
        rest = (await c.get("/v1/rejected", params={"cursor": page["next_cursor"]})).json()["data"]
        assert [r["id"] for r in rest] == [rows[1]["id"], rows[2]["id"]]
        assert (await c.get("/v1/rejected", params={"connection": "nope"})).json()["data"] == []
        # a date range, as on every list (first seen; a time without zone is UTC)
        first = rows[2]["first_seen"]
        assert len((await c.get("/v1/rejected", params={"since": first})).json()["data"]) == 3
        assert (await c.get("/v1/rejected", params={"until": first})).json()["data"] == []
        assert (await c.get("/v1/rejected", params={"since": "2000-01-01T00:00:00"})).json()["data"] == rows
        r = await c.get("/v1/rejected", params={"since": "yesterday"})
        assert r.status_code == 400 and "since" in r.text
        metrics = (await c.get("/metrics")).text
        assert 'smshook_rejected_total{connection="d",reason="signature"} 2.0' in metrics
        assert 'smshook_rejected_total{connection="d",reason="stale"} 1.0' in metrics
        assert 'smshook_hook_requests_total{connection="d",outcome="unauthorized"} 4.0' in metrics


async def test_public_url_is_what_is_signed(connect: Client) -> None:
    public = "https://sms.example.com:8443/prefix/hooks/d?from=portal"
    async with connect(public_url=public) as c:
        want = "https://sms.example.com:8443/prefix/hooks/d?x=%27a%27+b"
        r = await c.post("/hooks/d?x=%27a%27+b", content=b"p", headers=signed(want, b"p"))
        assert r.status_code == 200, r.text
        r = await c.post("/hooks/d?x=%27a%27+b", content=b"p", headers=signed("http://t/hooks/d?x=%27a%27+b", b"p"))
        assert r.status_code == 401
        assert (await c.get("/v1/rejected")).json()["data"][0]["request"]["url"] == want
        listed = (await c.get("/v1/connections")).json()["data"]
        assert listed[0]["public_url"] == public and listed[0]["protection"] == ["signature"]


async def test_forwarded_headers_only_from_a_trusted_proxy(connect: Client) -> None:
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "pub.example, inner", "x-forwarded-prefix": "/p/"}
    want = "https://pub.example/p/hooks/d"
    async with connect(peer="10.0.0.5", trusted="10.0.0.0/8") as c:
        r = await c.post("/hooks/d", content=b"f", headers={**forwarded, **signed(want, b"f")})
        assert r.status_code == 200, r.text
    async with connect(peer="192.0.2.7", trusted="10.0.0.0/8") as c:  # a stranger's headers are not believed
        r = await c.post("/hooks/d", content=b"g", headers={**forwarded, **signed(want, b"g")})
        assert r.status_code == 401
        r = await c.post("/hooks/d", content=b"g", headers={**forwarded, **signed("http://t/hooks/d", b"g")})
        assert r.status_code == 200


def test_declared_options_are_validated_and_masked(demo: None) -> None:
    def error(**conn: Any) -> str:
        with pytest.raises(ConfigError) as caught:
            load_settings(connections={"d": {"provider": "demo", **conn}})
        return str(caught.value)

    assert "connections.d.secrt: unknown key (did you mean secret?)" in error(secrt="x")
    assert "connections.d.mode: must be one of: a, b (got 'c')" in error(mode="c")
    assert "connections.d.retries: must be an integer (got str)" in error(retries="3")
    assert "connections.d.pin: provider 'demo' has no 'pin' setting (only csoft)" in error(pin="1")
    both = error(secrt="x", mode="c")
    assert both.count("\n  ") == 2  # one line per key
    assert "connections.d.public_url: must be an absolute" in error(public_url="sms.example.com/hooks/d")
    settings = load_settings(connections={"d": {"provider": "demo", "secret": SECRET, "retries": 3}})
    spec = connections_from(settings)["d"]
    assert spec.info.options == {"secret": SECRET, "mode": "a", "retries": 3}
    shown = repr(settings) + repr(spec) + repr(spec.info) + str(settings.redacted())
    assert SECRET not in shown
    assert settings.redacted()["connections"]["d"]["secret"] == "***"


def test_the_provider_says_what_authenticated_means(demo: None) -> None:
    open_one = load_settings(host="0.0.0.0", api_token="a" * 20, connections={"d": {"provider": "demo"}})
    with pytest.raises(ConfigError, match="connection 'd' has no token, allow_ips or secret"):
        check_exposure(open_one)
    signed_one = load_settings(host="0.0.0.0", api_token="a" * 20,
                               connections={"d": {"provider": "demo", "secret": SECRET}})
    assert check_exposure(signed_one) == []


def test_entry_point_plugins_declare_options(monkeypatch: pytest.MonkeyPatch) -> None:
    class EntryPoint:
        name = "demo"

        def load(self) -> type[Provider]:
            return Demo

    monkeypatch.setattr(providers, "entry_points", lambda group: [EntryPoint()])
    providers.registry.cache_clear()
    try:
        settings = load_settings(connections={"d": {"provider": "demo", "secret": SECRET, "mode": "b"}})
        assert connections_from(settings)["d"].info.options["mode"] == "b"
        with pytest.raises(ConfigError, match=r"connections\.d\.nope: unknown key"):
            load_settings(connections={"d": {"provider": "demo", "nope": 1}})
    finally:
        monkeypatch.undo()
        providers.registry.cache_clear()
