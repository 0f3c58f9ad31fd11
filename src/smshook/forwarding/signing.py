"""Standard Webhooks signing (https://www.standardwebhooks.com/).

Each request carries ``webhook-id`` (stable for one event and subscription: receivers deduplicate
on it), ``webhook-timestamp`` (unix seconds of this attempt) and ``webhook-signature``: for every
secret of the subscription (several during rotation) ``v1,`` + base64 of
HMAC-SHA256(key, f"{id}.{timestamp}.{body}"), space-separated. Secrets are ``whsec_`` + base64 key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from smshook.forwarding.model import secret_bytes

_key = functools.lru_cache(maxsize=1024)(secret_bytes)  # decoded once per secret, not per request


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def headers(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one request."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
    }


def payload(event: dict[str, Any]) -> bytes:
    """The request body: ``{"type", "timestamp", "data"}`` with ``data`` the public event.
    The same bytes on every attempt (``timestamp`` is when smshook received the event)."""
    return orjson.dumps({"type": f"message.{event['type']}", "timestamp": event["received_at"], "data": event})


def batch_payload(items: Sequence[tuple[str, dict[str, Any]]]) -> tuple[str, bytes]:
    """The webhook-id and body of a batch (subscriptions with ``batch_max`` > 1) of ``(webhook-id,
    public event)`` pairs: the body is a JSON array whose elements are the single-event bodies of
    :func:`payload` with that event's own webhook-id as ``id`` (receivers deduplicate on it, as a
    batch's members may be sent again in another batch). The batch's own webhook-id is ``batch_``
    plus a hash of its members' ids: a batch retried with the same members keeps it."""
    ids = [msg_id for msg_id, _ in items]
    digest = hashlib.blake2b("\n".join(ids).encode(), digest_size=16).hexdigest()
    body = orjson.dumps([{"id": msg_id, "type": f"message.{event['type']}", "timestamp": event["received_at"],
                          "data": event} for msg_id, event in items])
    return f"batch_{digest}", body


def verify(secret: str, body: bytes, given: dict[str, str], tolerance: int = 300, now: int | None = None) -> bool:
    """Check a request signed by :func:`headers` (what a receiver does; used in tests and docs)."""
    import time

    lowered = {k.lower(): v for k, v in given.items()}
    try:
        msg_id, stamp = lowered["webhook-id"], int(lowered["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else int(time.time())) - stamp) > tolerance:
        return False
    expected = sign(secret, msg_id, stamp, body).encode()
    return any(hmac.compare_digest(expected, part.encode())
               for part in lowered.get("webhook-signature", "").split())
