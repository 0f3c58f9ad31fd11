"""Twilio, Vonage and Plivo signatures through the real hook path, the requests signed by the
providers' own SDKs (``twilio``, ``plivo``, ``vonage-http-client``; ``hashlib`` for Vonage's
md5hash, ``pyjwt`` for the Messages API) — never by smshook's code: a valid request is stored; the
same request with one byte changed in the body, the URL, the query or the signature header is
refused (401/403), stored nowhere but the rejected log; a stale timestamp is refused."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import jwt
import pytest
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator
from vonage_http_client.auth import Auth

from smshook.app import SmshookApp
from smshook.settings import load_settings
from smshook.storage.sqlite import SQLiteStore

PUBLIC = "https://sms.example.com:8443/base"  # what the provider's portal holds; the app sees http://t
FORM = "application/x-www-form-urlencoded"
TWILIO_TOKEN = "5b2f2f4a9a1e4c7d8e0f1a2b3c4d5e6f"
PLIVO_TOKEN = "MjA4ZTc4Y2FhNTU0MWZlNmE2ZjU3ZGQ5OTc2OGVl"
VONAGE_SECRET = "vonage-signature-secret-77-0123456789"


@dataclass(frozen=True)
class Signed:
    method: str
    query: str
    headers: dict[str, str]
    body: bytes
    signature_header: str | None  # the header that carries the signature (None: a parameter)


def twilio_status(n: int, now: float) -> Signed:
    query = f"ref=order-{n}&note=O%27Brien+%40home"
    pairs = [("MessageSid", f"SM{n:032x}"), ("MessageStatus", "delivered"), ("To", "+14155550100"),
             ("From", "+15017122661"), ("AccountSid", "AC" + "1" * 32), ("ApiVersion", "2010-04-01")]
    url = f"{PUBLIC}/hooks/tw?{query}"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, dict(pairs))
    return Signed("POST", query, {"content-type": FORM, "x-twilio-signature": signature}, urlencode(pairs).encode(),
                  "x-twilio-signature")


def twilio_inbound_get(n: int, now: float) -> Signed:
    pairs = [("MessageSid", f"SM{n:032x}"), ("SmsStatus", "received"), ("Body", "Hello 'there' @ 5+6"),
             ("From", "whatsapp:+14133881111"), ("To", "whatsapp:+12028831111"), ("NumSegments", "1")]
    query = urlencode(pairs)
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{PUBLIC}/hooks/tw?{query}", {})
    return Signed("GET", query, {"x-twilio-signature": signature}, b"", "x-twilio-signature")


def vonage_params(n: int, now: float) -> dict[str, str]:
    return {"msisdn": "447700900000", "to": "AcmeInc", "network-code": "23410", "messageId": f"0C{n:014X}",
            "price": "0.03330000", "status": "delivered", "scts": "2601011200", "err-code": "0",
            "message-timestamp": "2026-01-01 12:00:03", "timestamp": str(int(now)), "nonce": str(uuid.uuid4())}


def vonage_get_sha256(n: int, now: float) -> Signed:
    params = vonage_params(n, now)
    sig = Auth(api_key="abcd1234", signature_secret=VONAGE_SECRET, signature_method="sha256").sign_params(params)
    return Signed("GET", urlencode({**params, "sig": sig.upper()}), {}, b"", None)


def vonage_json_md5hash(n: int, now: float) -> Signed:
    params = vonage_params(n, now)
    text = "".join(f"&{k}={params[k].replace('&', '_').replace('=', '_')}" for k in sorted(params))
    params["sig"] = hashlib.md5((text + VONAGE_SECRET).encode()).hexdigest()  # md5hash: Vonage's own recipe
    return Signed("POST", "", {"content-type": "application/json"}, json.dumps(params).encode(), None)


def vonage_messages_jwt(n: int, now: float) -> Signed:
    body = json.dumps({"message_uuid": str(uuid.UUID(int=n)), "to": "447700900000", "from": "447700900001",
                       "timestamp": "2026-01-01T12:00:00Z", "status": "delivered", "channel": "sms"}).encode()
    token = jwt.encode({"iat": int(now), "jti": str(uuid.uuid4()), "api_key": "abcd1234",
                        "payload_hash": hashlib.sha256(body).hexdigest()}, VONAGE_SECRET, algorithm="HS256")
    return Signed("POST", "", {"content-type": "application/json", "authorization": f"Bearer {token}"}, body,
                  "authorization")


def plivo_post(n: int, now: float) -> Signed:
    query = "a=b&c=d"
    params = {"MessageUUID": str(uuid.UUID(int=n)), "Status": "delivered", "To": "918553651111",
              "From": "13342031111", "ErrorCode": "", "Units": "1", "TotalAmount": "0.0025", "MCC": "405", "MNC": "803"}
    nonce = str(10**19 + n)
    base = construct_post_url(f"{PUBLIC}/hooks/pl/?{query}", dict(params))
    signature = get_signature_v3(PLIVO_TOKEN, base.decode(), nonce).decode()
    headers = {"content-type": FORM, "x-plivo-signature-v3": signature, "x-plivo-signature-v3-nonce": nonce}
    return Signed("POST", query, headers, urlencode(params).encode(), "x-plivo-signature-v3")


def plivo_get(n: int, now: float) -> Signed:
    params = {"MessageUUID": str(uuid.UUID(int=n)), "To": "4759440448", "From": "4795961111", "Text": "Hi + bye",
              "Type": "sms", "Units": "1"}
    query = urlencode(params)
    nonce = str(10**19 + n)
    base = construct_get_url(f"{PUBLIC}/hooks/pl/?{query}", {})
    signature = get_signature_v3(PLIVO_TOKEN, base.decode(), nonce).decode()
    return Signed("GET", query, {"x-plivo-signature-v3": signature, "x-plivo-signature-v3-nonce": nonce}, b"",
                  "x-plivo-signature-v3")


CONNECTIONS = {
    "tw": {"provider": "twilio", "auth_token": TWILIO_TOKEN, "public_url": f"{PUBLIC}/hooks/tw"},
    "vo": {"provider": "vonage", "signature_secret": VONAGE_SECRET, "signature_method": "sha256"},
    "vo5": {"provider": "vonage", "signature_secret": VONAGE_SECRET},  # md5hash, the default
    "pl": {"provider": "plivo", "auth_token": PLIVO_TOKEN, "public_url": f"{PUBLIC}/hooks/pl/"},
}
# (connection, builder, path, whether a timestamp is signed)
CASES: list[tuple[str, Callable[[int, float], Signed], str, bool]] = [
    ("tw", twilio_status, "/hooks/tw", False),
    ("tw", twilio_inbound_get, "/hooks/tw", False),
    ("vo", vonage_get_sha256, "/hooks/vo", True),
    ("vo5", vonage_json_md5hash, "/hooks/vo5", True),
    ("vo", vonage_messages_jwt, "/hooks/vo", True),
    ("pl", plivo_post, "/hooks/pl/", False),
    ("pl", plivo_get, "/hooks/pl/", False),
]


@asynccontextmanager
async def app_for(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(database=f"sqlite:///{tmp_path / 's.db'}", connections=CONNECTIONS)
    app = SmshookApp(settings, SQLiteStore(tmp_path / "s.db"))
    await app.store.open()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
            yield client
    finally:
        await app.store.close()


async def send(client: httpx.AsyncClient, path: str, s: Signed) -> httpx.Response:
    url = path + (f"?{s.query}" if s.query else "")
    return await client.request(s.method, url, headers=s.headers, content=s.body or None)


def flip(text: str, at: int) -> str:
    return text[:at] + ("Y" if text[at] == "X" else "X") + text[at + 1:]


def tampered(s: Signed, path: str) -> list[tuple[str, str, Signed]]:
    """(what, path, request) with one byte changed: body, URL path, query, signature header."""
    out = []
    if s.body:
        i = s.body.find(b"delivered") + 3 if b"delivered" in s.body else len(s.body) // 2
        out.append(("body", path, replace(s, body=s.body[:i] + b"X" + s.body[i + 1:])))
    if s.query:
        i = s.query.find("=") + 2
        out.append(("query", path, replace(s, query=flip(s.query, i))))
    out.append(("url", path.rstrip("/") + "x" + ("/" if path.endswith("/") else ""), s))
    if s.signature_header:
        value = s.headers[s.signature_header]
        changed = {**s.headers, s.signature_header: flip(value, len(value) // 2)}
        out.append(("header", path, replace(s, headers=changed)))
    return out


@pytest.mark.parametrize(("conn", "build", "path", "stamped"), CASES, ids=[c[1].__name__ for c in CASES])
async def test_sdk_signed_requests(tmp_path: Path, conn: str, build: Callable[[int, float], Signed], path: str,
                                   stamped: bool) -> None:
    async with app_for(tmp_path) as client:
        now = time.time()
        good = build(1, now)
        r = await send(client, path, good)
        assert r.status_code == 200, r.text
        assert len((await client.get("/v1/events", params={"connection": conn})).json()["data"]) == 1
        refused = 0
        for what, where, bad in tampered(build(2, now), path):
            if what == "url" and conn.startswith("vo"):
                continue  # Vonage does not sign the URL
            r = await send(client, where, bad)
            if what == "url" and r.status_code == 404:
                continue  # a changed path is no connection at all
            assert r.status_code in (401, 403), (what, r.status_code, r.text)
            refused += 1
        if stamped:
            r = await send(client, path, build(3, now - 3600))
            assert r.status_code == 401 and ("old" in r.text or "stale" in r.text), r.text
            refused += 1
        events = (await client.get("/v1/events", params={"connection": conn})).json()["data"]
        assert len(events) == 1, "a refused request was stored"
        rejected = (await client.get("/v1/rejected", params={"connection": conn})).json()["data"]
        assert sum(r["attempts"] for r in rejected) == refused and refused >= 2


async def test_twilio_port_variants_and_unsigned_refusal(tmp_path: Path) -> None:
    """Twilio signed with :8443 in public_url works; an unsigned request is refused as 'missing'."""
    async with app_for(tmp_path) as client:
        unsigned = replace(twilio_status(9, time.time()), headers={"content-type": FORM})
        r = await send(client, "/hooks/tw", unsigned)
        assert r.status_code == 403
        [row] = (await client.get("/v1/rejected")).json()["data"]
        assert row["reason"] == "missing" and row["request"]["url"].startswith(f"{PUBLIC}/hooks/tw?ref=order-9")


def test_vectors_agree_with_the_sdk_validators() -> None:
    """The SDKs' own validators accept the signed vectors committed for their providers."""
    from plivo.utils.signature_v3 import validate_v3_signature

    from tests.providers.test_vectors import CASES as VECTORS
    from tests.providers.test_vectors import build_request, load

    checked = 0
    for path in VECTORS:
        slug, vector = path.parent.name, load(path)
        if "signed" not in vector:
            continue
        request = build_request(vector["request"], slug, vector)
        options: dict[str, Any] = vector["connection"]
        if slug == "twilio" and request.method == "POST" and request.content_type == FORM:
            token = options.get("auth_token_secondary") if "secondary" in path.stem else options["auth_token"]
            if request.header("x-twilio-webhooks-signature-settings"):
                continue
            params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
            assert RequestValidator(token).validate(request.url, params, request.header("x-twilio-signature")), path
            checked += 1
        elif slug == "plivo" and (request.header("x-plivo-signature-v3") or request.header("x-plivo-signature-ma-v3")):
            params = dict(parse_qsl(request.body.decode(), keep_blank_values=True)) if request.method == "POST" else {}
            main = bool(request.header("x-plivo-signature-ma-v3"))
            token = options["main_auth_token"] if main else options["auth_token"]
            header = request.header("x-plivo-signature-ma-v3") or request.header("x-plivo-signature-v3")
            assert validate_v3_signature(request.method, request.url, request.header("x-plivo-signature-v3-nonce"),
                                         token, header, params), path
            checked += 1
    assert checked >= 10
