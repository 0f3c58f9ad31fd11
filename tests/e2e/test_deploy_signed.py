"""MessageBird, Telnyx and Sinch signatures through the shipped nginx (deploy/nginx.conf, real TLS):
MessageBird signs the full URL it calls — here ``https://127.0.0.1:<port>/hooks/mb?…`` with the query
exactly as sent, ``price%5Bamount%5D`` and all — which nginx does not pass on whole (``Host: $host``
drops the port): with ``public_url`` set the JWT verifies and the GET status report is stored; without
it the rebuilt URL is refused and shown in the rejected log. Telnyx and Sinch sign the raw body, which
nginx must pass on byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time

import httpx
import jwt
import pytest
from nacl.signing import SigningKey
from sinch.domains.authentication.sinch_events.v1.authentication_validation import (
    calculate_sinch_event_signature,
    compute_signed_data,
)

from tests.e2e import test_deploy
from tests.e2e.conftest import Server
from tests.e2e.test_deploy import PROVIDER, Nginx, client

proxied = test_deploy.proxied  # the fixture: smshook behind the shipped nginx, config text by indirect parameter

MB_KEY = "2b4d6f8a1c3e5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a3c5e7b9d0f2a4c"
SINCH_SECRET = "sinch-nginx-webhook-secret-0123456789"
TELNYX = SigningKey(hashlib.sha256(b"smshook nginx e2e").digest())
CONFIG = f"""
[connections.mb]
provider = "messagebird"
signing_key = "{MB_KEY}"
public_url = "{{https}}/hooks/mb"

[connections.mb2]
provider = "messagebird"
signing_key = "{MB_KEY}"

[connections.tx]
provider = "telnyx"
public_key = "{base64.b64encode(TELNYX.verify_key.encode()).decode()}"

[connections.si]
provider = "sinch"
webhook_secret = "{SINCH_SECRET}"
"""
QUERY = ("id=b6aae1b5dfb2427a8f7ea6a717ba31a9&reference=019a0719&recipient=18885551515&status=delivered"
         "&statusDatetime=2026-01-10T09%3A30%3A12%2B00%3A00&price%5Bamount%5D=0.0070&price%5Bcurrency%5D=USD")


def mb_token(url: str, now: int) -> str:
    """As MessageBird signs a GET status report (claims of its SDK's test table; PyJWT)."""
    claims = {"iss": "MessageBird", "nbf": now, "exp": now + 60, "jti": "e2e-1",
              "url_hash": hashlib.sha256(url.encode()).hexdigest()}
    return jwt.encode(claims, MB_KEY, algorithm="HS256")


@pytest.mark.parametrize("proxied", [CONFIG], indirect=True)
def test_signatures_verify_behind_nginx(proxied: tuple[Nginx, Server]) -> None:
    nginx, server = proxied
    tls = ssl.create_default_context(cafile=str(nginx.cert))
    now = int(time.time())
    telnyx_body = json.dumps({"data": {"event_type": "message.finalized", "id": "ev-1", "occurred_at":
                                       "2026-01-10T09:30:12.123Z", "payload": {"id": "tx-1", "type": "SMS", "to": [
                                           {"phone_number": "+15551230001", "status": "delivered"}]}}}).encode()
    sinch_body = json.dumps({"type": "mo_text", "id": "si-1", "from": "+46701234567", "to": "46701000100",
                             "body": "Hälsningar 👋", "received_at": "2026-01-10T09:31:00Z"},
                            ensure_ascii=False).encode()
    nonce = "01JGZ2Q9V4T7W0M3B6C8E1F5HK"
    with client(PROVIDER, tls) as provider:
        answers = {name: provider.get(f"{nginx.https}/hooks/{name}?{QUERY}", headers={
            "MessageBird-Signature-JWT": mb_token(f"{nginx.https}/hooks/{name}?{QUERY}", now)})
            for name in ("mb", "mb2")}
        answers["tx"] = provider.post(f"{nginx.https}/hooks/tx", content=telnyx_body, headers={
            "content-type": "application/json", "telnyx-timestamp": str(now),
            "telnyx-signature-ed25519": base64.b64encode(TELNYX.sign(f"{now}|".encode() + telnyx_body)
                                                         .signature).decode()})
        answers["si"] = provider.post(f"{nginx.https}/hooks/si", content=sinch_body, headers={
            "content-type": "application/json", "x-sinch-webhook-signature-nonce": nonce,
            "x-sinch-webhook-signature-timestamp": str(now),
            "x-sinch-webhook-signature": calculate_sinch_event_signature(
                compute_signed_data(sinch_body.decode(), nonce, str(now)), SINCH_SECRET)})
    for name in ("mb", "tx", "si"):
        assert answers[name].status_code == 200, (name, answers[name].text, server.output()[-2000:])
    assert answers["mb"].text == "OK"
    assert answers["mb2"].status_code == 401 and "public_url" in answers["mb2"].text
    with httpx.Client(timeout=10) as api:
        events = api.get(f"{server.url}/v1/events").json()["data"]
        rejected = api.get(f"{server.url}/v1/rejected").json()["data"]
    assert sorted((e["connection"], e["message_id"]) for e in events) == [
        ("mb", "b6aae1b5dfb2427a8f7ea6a717ba31a9"), ("si", "si-1"), ("tx", "tx-1")]
    assert next(e for e in events if e["connection"] == "mb")["price"] == "0.0070"
    [row] = rejected
    assert row["connection"] == "mb2" and row["reason"] == "signature"
    assert row["request"]["url"] == f"https://127.0.0.1/hooks/mb2?{QUERY}"  # nginx's $host has no port
