"""Where deliveries go: a Standard Webhooks HTTP endpoint or a Redis stream.

A sink sends one event and says how it went (:class:`SendResult`); it never raises for a failed
delivery and never decides about retries (the dispatcher does).
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from smshook import __version__
from smshook.forwarding import signing
from smshook.forwarding.model import Claimed

MAX_ERROR = 300
MAX_BODY_SHOWN = 200  # characters of a receiver's error body kept in last_error


def status_line(body: str) -> str:
    """A receiver's error body as one short, printable line for ``last_error``: control characters and
    line breaks become spaces, runs of spaces one, at most :data:`MAX_BODY_SHOWN` characters."""
    printable = "".join(c if c.isprintable() else " " for c in body[:MAX_BODY_SHOWN * 4])
    line = " ".join(printable.split())
    return line if len(line) <= MAX_BODY_SHOWN else line[:MAX_BODY_SHOWN - 1] + "…"


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    status: int | None = None  # HTTP status, when there was an answer
    error: str | None = None
    retry_after: float | None = None  # seconds, from Retry-After on 429/503
    gone: bool = False  # HTTP 410: the receiver wants no more


class Sink(Protocol):
    async def send(self, delivery: Claimed, body: bytes, limit: float) -> SendResult: ...

    async def aclose(self) -> None: ...


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


class WebhookSink:
    """POST the payload, signed, to the subscription's URL. 2xx is success; redirects are not followed."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(
            follow_redirects=False, headers={"user-agent": f"smshook/{__version__}"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))

    async def send(self, delivery: Claimed, body: bytes, limit: float) -> SendResult:
        sub = delivery.subscription
        headers = signing.headers(sub.secrets, delivery.id, int(time.time()), body)
        headers["content-type"] = "application/json"
        try:
            response = await self.client.post(sub.target, content=body, headers=headers, timeout=limit)
        except httpx.TimeoutException:
            return SendResult(False, error=f"timeout after {limit:g}s")
        except httpx.HTTPError as exc:
            return SendResult(False, error=status_line(f"{type(exc).__name__}: {exc}") or type(exc).__name__)
        code = response.status_code
        if 200 <= code < 300:
            return SendResult(True, status=code)
        text = status_line(response.content[:MAX_BODY_SHOWN * 4].decode("utf-8", "replace"))
        error = f"HTTP {code}" + (f": {text}" if text else "")
        wait = retry_after(response.headers.get("retry-after")) if code in (429, 503) else None
        return SendResult(False, status=code, error=error[:MAX_ERROR], retry_after=wait, gone=code == 410)

    async def aclose(self) -> None:
        await self.client.aclose()


class RedisSink:
    """XADD one entry per event to the subscription's stream: fields ``webhook-id``, ``type``,
    ``timestamp`` and ``payload`` (the same JSON body a webhook receives)."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}

    def _client(self, url: str) -> Any:
        client = self._clients.get(url)
        if client is None:
            import redis.asyncio

            client = self._clients[url] = redis.asyncio.Redis.from_url(url)
        return client

    async def send(self, delivery: Claimed, body: bytes, limit: float) -> SendResult:
        import asyncio

        import redis.exceptions

        sub = delivery.subscription
        fields = {"webhook-id": delivery.id, "type": f"message.{delivery.event['type']}",
                  "timestamp": str(delivery.event["received_at"]), "payload": body}
        try:
            async with asyncio.timeout(limit):
                await self._client(sub.target).xadd(sub.stream or "smshook", fields)
        except TimeoutError:
            return SendResult(False, error=f"timeout after {limit:g}s")
        except (redis.exceptions.RedisError, OSError) as exc:
            return SendResult(False, error=f"redis: {type(exc).__name__}: {exc}"[:MAX_ERROR])
        return SendResult(True)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
