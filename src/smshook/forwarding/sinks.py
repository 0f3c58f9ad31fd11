"""Where deliveries go: a Standard Webhooks HTTP endpoint or a Redis stream.

A sink sends one event and says how it went (:class:`SendResult`); it never raises for a failed
delivery and never decides about retries (the dispatcher does).
"""

from __future__ import annotations

import email.utils
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from smshook import __version__
from smshook.forwarding import signing
from smshook.forwarding.model import Claimed, Subscription

if TYPE_CHECKING:
    import aiohttp

MAX_ERROR = 300
MAX_BODY_SHOWN = 200  # characters of a receiver's error body kept in last_error


def status_line(body: str) -> str:
    """A receiver's error body as one short, printable line for ``last_error``: control characters and
    line breaks become spaces, runs of spaces one, at most :data:`MAX_BODY_SHOWN` characters."""
    printable = "".join(c if c.isprintable() else " " for c in body[:MAX_BODY_SHOWN * 4])
    line = " ".join(printable.split())
    return line if len(line) <= MAX_BODY_SHOWN else line[:MAX_BODY_SHOWN - 1] + "…"


MAX_ANSWER = 4096  # bytes of a receiver's answer read (last_error keeps a short status line of it)


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
    """POST the payload, signed, to the subscription's URL. 2xx is success; redirects are not followed.

    One aiohttp session for the dispatcher: its connector keeps a pool of keep-alive connections per
    target (scheme, host, port), so consecutive deliveries to one receiver reuse their connections
    instead of paying a TCP (and TLS) handshake each. (httpx, used before, spent ~3 ms of CPU per
    request in its pool bookkeeping: ~300 requests/s on one core, see bench/README.md.)"""

    def __init__(self, keepalive: float = 30.0) -> None:
        self.keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}

    def _client(self) -> aiohttp.ClientSession:
        import aiohttp  # on first use: a process that never forwards (or a worker starting) skips ~0.3 s

        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=self.keepalive)
            # trust_env=False: aiohttp would read ~/.netrc and the proxy variables on every request;
            # the proxy is looked up once per target instead (_proxy).
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"user-agent": f"smshook/{__version__}"}, trust_env=False,
                auto_decompress=False)
        return self._session

    def _proxy(self, url: str) -> str | None:
        """The proxy for ``url`` from HTTP_PROXY/HTTPS_PROXY/NO_PROXY, as httpx used them (cached)."""
        parts = urllib.parse.urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._proxies:
            proxies = urllib.request.getproxies()
            wanted = proxies.get(parts.scheme.lower())
            if wanted and urllib.request.proxy_bypass(parts.hostname or ""):
                wanted = None
            self._proxies[key] = wanted or None
        return self._proxies[key]

    async def send(self, delivery: Claimed, body: bytes, limit: float) -> SendResult:
        return await self.post(delivery.subscription, delivery.id, body, limit)

    async def post(self, sub: Subscription, msg_id: str, body: bytes, limit: float) -> SendResult:
        """POST ``body`` signed as webhook ``msg_id`` (one event, or a batch of them)."""
        import aiohttp
        headers = signing.headers(sub.secrets, msg_id, int(time.time()), body)
        headers["content-type"] = "application/json"
        try:
            async with self._client().post(sub.target, data=body, headers=headers, allow_redirects=False,
                                           proxy=self._proxy(sub.target),
                                           timeout=aiohttp.ClientTimeout(total=limit)) as response:
                code = response.status
                answer = await response.content.read(MAX_ANSWER)
                retry = response.headers.get("retry-after")
        except TimeoutError:
            return SendResult(False, error=f"timeout after {limit:g}s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return SendResult(False, error=status_line(f"{type(exc).__name__}: {exc}") or type(exc).__name__)
        if 200 <= code < 300:
            return SendResult(True, status=code)
        text = status_line(answer[:MAX_BODY_SHOWN * 4].decode("utf-8", "replace"))
        error = f"HTTP {code}" + (f": {text}" if text else "")
        wait = retry_after(retry) if code in (429, 503) else None
        return SendResult(False, status=code, error=error[:MAX_ERROR], retry_after=wait, gone=code == 410)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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

    async def send_many(self, deliveries: Sequence[Claimed], bodies: Sequence[bytes],
                        limit: float) -> list[SendResult]:
        """XADD the deliveries of one subscription in one pipelined round trip, one entry each as
        :meth:`send` writes it; each gets its own result."""
        import asyncio

        import redis.exceptions

        sub = deliveries[0].subscription
        pipe = self._client(sub.target).pipeline(transaction=False)
        for delivery, body in zip(deliveries, bodies, strict=True):
            pipe.xadd(sub.stream or "smshook", {
                "webhook-id": delivery.id, "type": f"message.{delivery.event['type']}",
                "timestamp": str(delivery.event["received_at"]), "payload": body})
        try:
            async with asyncio.timeout(limit):
                replies = await pipe.execute(raise_on_error=False)
        except TimeoutError:
            return [SendResult(False, error=f"timeout after {limit:g}s")] * len(deliveries)
        except (redis.exceptions.RedisError, OSError) as exc:
            return [SendResult(False, error=f"redis: {type(exc).__name__}: {exc}"[:MAX_ERROR])] * len(deliveries)
        return [SendResult(False, error=f"redis: {type(r).__name__}: {r}"[:MAX_ERROR]) if isinstance(r, Exception)
                else SendResult(True) for r in replies]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
