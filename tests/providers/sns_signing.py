"""Signing Amazon SNS envelopes in tests, with ``cryptography`` and a test key (never smshook's code).

``sns/test-key.pem`` and ``sns/test-cert.pem`` are a throwaway RSA key and its self-signed
certificate, made for these tests; the certificate is served for :data:`CERT_URL` by
:func:`certificate_source` instead of fetching anything.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = Path(__file__).parent / "sns"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-smshooktest.pem"
CERT_PEM = (HERE / "test-cert.pem").read_bytes()
TOPIC = "arn:aws:sns:us-east-1:123456789012:sms-events"

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((HERE / "test-key.pem").read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    """As AWS documents it (sns-verify-signature-of-message), written out independently here."""
    keys = NOTIFICATION_KEYS if envelope["Type"] == "Notification" else CONFIRMATION_KEYS
    return "".join(f"{k}\n{envelope[k]}\n" for k in keys if k in envelope).encode()


def sign(envelope: dict[str, Any], version: str = "1", cert_url: str = CERT_URL) -> dict[str, Any]:
    signed = {**envelope, "SignatureVersion": version, "SigningCertURL": cert_url}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # SNS v1 is SHA-1
    signature = private_key().sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(signature).decode()
    return signed


def certificate_source(url: str) -> bytes:
    assert url == CERT_URL, f"unexpected certificate URL {url}"
    return CERT_PEM


def notification(message: str, message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
                 timestamp: str = "2026-12-03T10:00:00.123Z", topic: str = TOPIC, **extra: Any) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": message_id, "TopicArn": topic, "Message": message,
            "Timestamp": timestamp, **extra,
            "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:x"}


def confirmation(kind: str = "SubscriptionConfirmation", topic: str = TOPIC,
                 timestamp: str = "2026-12-03T09:59:00.000Z") -> dict[str, Any]:
    token = ("2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad0"
             "2428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b08795")
    return {"Type": kind, "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "Token": token, "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the "
                       "SubscribeURL included in this message.",
            "SubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}"
                            f"&Token={token}",
            "Timestamp": timestamp}
