"""Amazon SNS: signatures (v1 SHA-1, v2 SHA-256) made with ``cryptography`` and a test certificate,
the certificate URL rule, the certificate cache and fetch, topics, age, and background confirmation."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from smshook.errors import AuthError, InvalidRequest
from smshook.providers import sns
from smshook.providers.base import ConnectionInfo, RawRequest
from smshook.providers.sns_confirm import Confirmer, subscribe_url_ok
from tests.providers.sns_signing import CERT_PEM, CERT_URL, TOPIC, confirmation, notification, sign

PROVIDER = sns.Sns()
CONNECTION = ConnectionInfo(name="aws", provider="sns", options={"topic_arns": [TOPIC]})
INBOUND = json.dumps({"originationNumber": "+14255550182", "destinationNumber": "+12125550101",
                      "messageBody": "Stop all", "inboundMessageId": "in-1"})


def accept(request: RawRequest, connection: ConnectionInfo = CONNECTION) -> list[Any]:
    """What the hook path does: verify, then parse."""
    PROVIDER.verify(request, connection)
    return PROVIDER.parse(request, connection)


def post(envelope: dict[str, Any], **headers: str) -> RawRequest:
    return RawRequest("POST", "/hooks/aws", b"", (("content-type", "text/plain; charset=UTF-8"), *headers.items()),
                      json.dumps(envelope).encode())


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_valid_signatures_verify(version: str, kind: str) -> None:
    envelope = notification(INBOUND) if kind == "Notification" else confirmation(kind)
    events = accept(post(sign(envelope, version)), CONNECTION)
    assert len(events) == (1 if kind == "Notification" else 0)


def test_default_version_is_1() -> None:
    signed = sign(notification(INBOUND), "1")
    del signed["SignatureVersion"]
    assert accept(post(signed), CONNECTION)[0].text == "Stop all"


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "TopicArn", "Subject"])
def test_one_changed_signed_field_is_refused(field: str) -> None:
    signed = sign(notification(INBOUND, Subject="s"), "2")
    signed[field] = signed[field][:-1] + ("x" if signed[field][-1] != "x" else "y")
    with pytest.raises(AuthError) as caught:
        accept(post(signed), CONNECTION if field != "TopicArn" else ConnectionInfo(
            name="aws", provider="sns", options={"topic_arns": [signed["TopicArn"]]}))
    assert "signature" in caught.value.message


def test_removed_subject_and_swapped_version_are_refused() -> None:
    signed = sign(notification(INBOUND, Subject="hello"), "1")
    with pytest.raises(AuthError):
        accept(post({k: v for k, v in signed.items() if k != "Subject"}), CONNECTION)
    with pytest.raises(AuthError):  # signed with SHA-1, claimed SHA-256
        accept(post({**signed, "SignatureVersion": "2"}), CONNECTION)
    with pytest.raises(AuthError, match="not 1 or 2"):
        accept(post({**signed, "SignatureVersion": "3"}), CONNECTION)
    with pytest.raises(AuthError, match="Base64"):
        accept(post({**signed, "Signature": "***"}), CONNECTION)


def test_confirmation_token_and_subscribe_url_are_signed() -> None:
    for field in ("Token", "SubscribeURL"):
        signed = sign(confirmation(), "2")
        signed[field] += "0"
        with pytest.raises(AuthError):
            accept(post(signed), CONNECTION)


@pytest.mark.parametrize("url", [
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
])
def test_certificate_urls_allowed(url: str) -> None:
    sns.check_certificate_url(url)


@pytest.mark.parametrize("url", [
    "http://sns.us-east-1.amazonaws.com/x.pem",                      # not https
    "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",        # suffix
    "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
    "https://sqs.us-east-1.amazonaws.com/x.pem",                     # another service
    "https://sns.us-east-1.amazonaws.com/x.txt",                     # not .pem
    "https://sns.us-east-1.amazonaws.com:8443/x.pem",                # a port
    "https://user@sns.us-east-1.amazonaws.com/x.pem",                # credentials
    "https://SNS.US-EAST-1.amazonaws.com@evil.example/x.pem",
    "https://sns.us_east_1.amazonaws.com/x.pem",
    "not a url",
])
def test_certificate_urls_refused(url: str) -> None:
    with pytest.raises(AuthError, match="SigningCertURL"):
        sns.check_certificate_url(url)


def test_certificate_is_fetched_once_and_cached() -> None:
    calls: list[str] = []

    def source(url: str) -> bytes:
        calls.append(url)
        return CERT_PEM

    certificates = sns.Certificates(source)
    for _ in range(3):
        sns.verify(sign(notification(INBOUND)), certificates)
    assert calls == [CERT_URL]


def test_a_certificate_that_is_not_pem_is_refused() -> None:
    certificates = sns.Certificates(lambda url: b"<html>hello</html>")
    with pytest.raises(AuthError, match="PEM"):
        sns.verify(sign(notification(INBOUND)), certificates)


def test_fetch_follows_no_redirect_and_says_so() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path.endswith("moved.pem"):
            return httpx.Response(302, headers={"location": "https://evil.example/cert.pem"})
        return httpx.Response(200, content=CERT_PEM)

    transport = httpx.MockTransport(handler)
    assert sns.fetch_certificate(CERT_URL, transport=transport) == CERT_PEM
    with pytest.raises(AuthError, match="302") as caught:
        sns.fetch_certificate("https://sns.us-east-1.amazonaws.com/moved.pem", transport=transport)
    assert caught.value.status == 503  # SNS retries; nothing stored
    assert seen == [CERT_URL, "https://sns.us-east-1.amazonaws.com/moved.pem"]


def test_fetch_failure_answers_503_so_sns_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("unreachable")

    with pytest.raises(AuthError) as caught:
        sns.fetch_certificate(CERT_URL, transport=httpx.MockTransport(handler))
    assert caught.value.status == 503


def test_a_big_certificate_is_refused() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=b"x" * (sns.MAX_CERTIFICATE + 1)))
    with pytest.raises(AuthError, match="64 KiB"):
        sns.fetch_certificate(CERT_URL, transport=transport)


def test_topics_and_max_age() -> None:
    signed = sign(notification(INBOUND, timestamp="2026-12-03T10:00:00.000Z"))
    none = ConnectionInfo(name="aws", provider="sns", options={})
    with pytest.raises(AuthError, match="topic_arns") as caught:
        accept(post(signed), none)
    assert caught.value.status == 403
    aged = ConnectionInfo(name="aws", provider="sns", options={"topic_arns": [TOPIC], "max_age": 3600})
    envelope = PROVIDER.envelope(post(signed))
    PROVIDER.check_age(envelope, aged, datetime(2026, 12, 3, 10, 59, tzinfo=UTC))
    with pytest.raises(AuthError, match="max_age"):
        PROVIDER.check_age(envelope, aged, datetime(2026, 12, 3, 11, 0, 1, tzinfo=UTC))


def test_envelope_shape_errors() -> None:
    with pytest.raises(InvalidRequest, match="JSON"):
        PROVIDER.envelope(RawRequest("POST", "/", body=b"Type=Notification"))
    with pytest.raises(InvalidRequest, match="Type"):
        PROVIDER.envelope(RawRequest("POST", "/", body=b'{"Type": "Other", "Signature": "x"}'))
    with pytest.raises(InvalidRequest, match="x-amz-sns-message-type"):
        PROVIDER.envelope(post(sign(notification(INBOUND)), **{"x-amz-sns-message-type": "SubscriptionConfirmation"}))
    with pytest.raises(AuthError, match="RawMessageDelivery"):
        PROVIDER.envelope(RawRequest("POST", "/", body=INBOUND.encode()))


@pytest.mark.parametrize(("message", "wrong"), [
    ({"eventType": "TEXT_DELIVERED", "messageId": "m", "eventTimestamp": "soon"}, "eventTimestamp"),
    ({"eventType": "TEXT_DELIVERED", "messageId": "m", "eventTimestamp": 10**20}, "eventTimestamp"),
    ({"eventType": "TEXT_DELIVERED", "messageId": "m", "isFinal": "yes"}, "isFinal"),
    ({"eventType": "TEXT_DELIVERED", "messageId": "m", "mcc": "31O", "mnc": "800"}, "mcc"),
    ({"eventType": "TEXT_DELIVERED"}, "messageId"),
    ({"eventType": "TEXT_DELIVERED", "messageId": "m", "totalMessagePrice": "free"}, "totalMessagePrice"),
    ({"originationNumber": "+1", "messageBody": 5}, "messageBody"),
    ({"hello": "world"}, "neither"),
])
def test_message_errors_name_the_field(message: dict[str, Any], wrong: str) -> None:
    with pytest.raises(InvalidRequest, match=wrong):
        accept(post(sign(notification(json.dumps(message)))), CONNECTION)


def test_unknown_event_type_is_kept_raw_as_unknown() -> None:
    message = json.dumps({"eventType": "TEXT_SOMETHING_NEW", "messageId": "m", "eventTimestamp": 1686975103470})
    event = accept(post(sign(notification(message))), CONNECTION)[0]
    assert (event.status, event.provider_status, event.occurred_at) == (
        "unknown", "TEXT_SOMETHING_NEW", datetime(2023, 6, 17, 4, 11, 43, 470000, tzinfo=UTC))


# -- confirmation ---------------------------------------------------------------------------------

URL = confirmation()["SubscribeURL"]


def test_subscribe_urls() -> None:
    assert subscribe_url_ok(URL)
    assert not subscribe_url_ok("https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription")
    assert not subscribe_url_ok("http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
    assert not subscribe_url_ok("https://169.254.169.254/latest/meta-data/")


async def test_confirmation_is_retried_then_confirmed() -> None:
    answers = [httpx.ConnectError("down"), 500, 200]
    fetched: list[str] = []

    async def fetch(url: str) -> int:
        fetched.append(url)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    confirmer = Confirmer(fetch, delays=(0, 0.01, 0.01))
    confirmer.submit("aws", TOPIC, URL, "mid", confirm=True)
    assert confirmer.listing()[0]["state"] == "pending"
    await confirmer.drain()
    assert fetched == [URL] * 3
    (state,) = confirmer.listing()
    assert (state["state"], state["attempts"], state["last_error"], state["message_id"]) == (
        "confirmed", 3, None, "mid")


async def test_confirmation_gives_up_visibly() -> None:
    async def fetch(url: str) -> int:
        return 403

    confirmer = Confirmer(fetch, delays=(0, 0.01))
    confirmer.submit("aws", TOPIC, URL, None, confirm=True)
    await confirmer.drain()
    (state,) = confirmer.listing()
    assert (state["state"], state["attempts"], state["last_error"]) == ("failed", 2, "SubscribeURL answered 403")


async def test_confirmation_switched_off_or_foreign_url_fetches_nothing() -> None:
    async def fetch(url: str) -> int:
        raise AssertionError("must not fetch")

    confirmer = Confirmer(fetch)
    confirmer.submit("aws", TOPIC, URL, None, confirm=False)
    confirmer.submit("aws", "arn:other", "https://evil.example/", None, confirm=True)
    await asyncio.sleep(0)
    await confirmer.drain()
    states = {s["topic_arn"]: s["state"] for s in confirmer.listing()}
    assert states == {TOPIC: "unconfirmed", "arn:other": "failed"}
    confirmer.unsubscribed("aws", TOPIC, "m2")
    assert {s["topic_arn"]: s["state"] for s in confirmer.listing()}[TOPIC] == "unsubscribed"
