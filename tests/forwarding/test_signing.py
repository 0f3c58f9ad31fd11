"""Standard Webhooks signing, checked with the reference `standardwebhooks` verifier."""

from __future__ import annotations

import time

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from smshook.forwarding import signing
from smshook.forwarding.model import generate_secret, secret_bytes

OLD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW = generate_secret()
EVENT = {"id": "0190c0de-0000-7000-8000-000000000001", "type": "inbound", "received_at": "2026-03-01T12:00:00Z",
         "text": "STOP please", "details": {}}


def test_reference_verifier_accepts_our_signature() -> None:
    body = signing.payload(EVENT)
    headers = signing.headers([OLD], "msg_abc", int(time.time()), body)
    assert Webhook(OLD).verify(body, headers) == {"type": "message.inbound", "timestamp": EVENT["received_at"],
                                                   "data": EVENT}
    assert signing.verify(OLD, body, headers)


def test_rotation_signs_with_every_secret() -> None:
    body = signing.payload(EVENT)
    headers = signing.headers([NEW, OLD], "msg_abc", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(NEW).verify(body, headers)  # receivers already on the new secret
    Webhook(OLD).verify(body, headers)  # receivers still on the old one
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)


def test_tampering_and_replay_window_are_caught() -> None:
    body = signing.payload(EVENT)
    headers = signing.headers([OLD], "msg_abc", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(body.replace(b"STOP", b"WIN!"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(body, {**headers, "webhook-id": "msg_other"})
    stale = signing.headers([OLD], "msg_abc", int(time.time()) - 3600, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(body, stale)
    assert not signing.verify(OLD, body, stale)


def test_payload_is_deterministic_and_public() -> None:
    assert signing.payload(EVENT) == signing.payload(dict(EVENT))
    assert orjson.loads(signing.payload(EVENT))["data"] == EVENT


@pytest.mark.parametrize("bad", ["nope", "whsec_", "whsec_!!!", "whsec_" + "QUJD"])
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        secret_bytes(bad)
