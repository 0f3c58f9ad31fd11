"""Simulator profile: Amazon SNS (see :mod:`smshook.simulate`). ``Notification`` envelopes (``text/plain``)
carrying AWS End User Messaging SMS events (``TEXT_SUCCESSFUL`` then ``TEXT_DELIVERED``, or
``TEXT_CARRIER_UNREACHABLE``, ``TEXT_BLOCKED``...) and two-way inbound messages, on the first of
``-o topic_arns=ARN``, signed (SignatureVersion 2) with the RSA key in the PEM file named by
``SIMULATE_SNS_KEY`` (else a throwaway key) and ``SigningCertURL`` =
``SIMULATE_SNS_CERT_URL`` (else an sns.us-east-1 URL). smshook verifies them with the certificate
of that URL, which only AWS serves: a server accepts them only where its certificate source is replaced
(the tests do); with a throwaway key every one is refused (401). Expected answer: any 2xx."""

from __future__ import annotations

import base64
import json
import os
import uuid
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from smshook.simulate.common import Ctx, Item, Profile, Request, any_2xx

SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:smshook-simulate"
SNS_CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-smshook-simulate.pem"
SNS_PLANS: list[tuple[int, tuple[str, ...]]] = [
    (70, ("TEXT_SUCCESSFUL", "TEXT_DELIVERED")), (10, ("TEXT_QUEUED", "TEXT_SUCCESSFUL", "TEXT_DELIVERED")),
    (6, ("TEXT_SUCCESSFUL", "TEXT_TTL_EXPIRED")), (6, ("TEXT_CARRIER_UNREACHABLE",)), (4, ("TEXT_BLOCKED",)),
    (4, ("TEXT_SUCCESSFUL",)),
]
SNS_FINAL = {"TEXT_DELIVERED", "TEXT_TTL_EXPIRED", "TEXT_BLOCKED", "TEXT_SUCCESSFUL"}


@cache
def _key(path: str | None) -> rsa.RSAPrivateKey:
    if path is None:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(path, "rb") as pem:
        key = serialization.load_pem_private_key(pem.read(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"SIMULATE_SNS_KEY={path}: not an RSA private key")
    return key


def signing_key() -> rsa.RSAPrivateKey:
    return _key(os.environ.get("SIMULATE_SNS_KEY") or None)


# -- Amazon SNS ------------------------------------------------------------------------------------


def sns_message(ctx: Ctx) -> list[Item]:
    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    to = f"1{ctx.rng.choice(['206', '425', '212'])}555{ctx.digits(4)}"
    steps = ctx.pick(SNS_PLANS)
    submitted, times = ctx.schedule(*((0, 3) for _ in steps))
    last = len(steps) - 1
    return [Item(at, {"messageId": ident, "eventType": step, "to": to, "submitted": submitted, "last": i == last})
            for i, (at, step) in enumerate(zip(times, steps, strict=True))]


def sns_inbound(ctx: Ctx) -> Item:
    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    body = ctx.rng.choice(["JOIN", "STOP", "Yes, see you at 5", "HELP"])
    return Item(ctx.when(), {"originationNumber": f"+1425555{ctx.digits(4)}", "destinationNumber": "+12125550101",
                             "messageKeyword": body.split()[0].rstrip(",").upper(), "messageBody": body,
                             "inboundMessageId": ident}, inbound=True)


def sns_render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    if item.inbound:
        message = dict(d)
    else:
        event = d["eventType"]
        message = {"eventType": event, "eventVersion": "1.0", "eventTimestamp": int(item.at.timestamp() * 1000),
                   "isFinal": event in SNS_FINAL and d["last"], "originationPhoneNumber": "+12065550152",
                   "destinationPhoneNumber": f"+{d['to']}", "mcc": "310", "mnc": "410", "messageId": d["messageId"],
                   "messageRequestTimestamp": int(d["submitted"].timestamp() * 1000), "messageEncoding": "GSM",
                   "messageType": "TRANSACTIONAL", "messageStatus": event.removeprefix("TEXT_"),
                   "totalMessageParts": 1, "totalMessagePrice": 0.00645, "totalCarrierFee": 0.0}
    topics = ctx.options.connection.get("topic_arns") or SNS_TOPIC
    envelope: dict[str, Any] = {
        "Type": "Notification", "MessageId": str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4)),
        "TopicArn": str(topics).split(",")[0].strip(), "Message": json.dumps(message, separators=(",", ":")),
        "Timestamp": item.at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "SignatureVersion": "2",
        "SigningCertURL": os.environ.get("SIMULATE_SNS_CERT_URL", SNS_CERT_URL),
    }
    canonical = "".join(f"{k}\n{envelope[k]}\n" for k in ("Message", "MessageId", "Timestamp", "TopicArn", "Type"))
    envelope["Signature"] = base64.b64encode(signing_key().sign(canonical.encode(), padding.PKCS1v15(),
                                                                hashes.SHA256())).decode()
    envelope["UnsubscribeURL"] = (f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
                                  f"{envelope['TopicArn']}:smshook-simulate")
    headers = (("Content-Type", "text/plain; charset=UTF-8"), ("x-amz-sns-message-type", "Notification"),
               ("x-amz-sns-message-id", envelope["MessageId"]), ("x-amz-sns-topic-arn", envelope["TopicArn"]),
               ("User-Agent", "Amazon Simple Notification Service Agent"))
    return "POST", "", headers, json.dumps(envelope).encode()



PROFILE = Profile(sns_message, sns_render, any_2xx, sns_inbound)
