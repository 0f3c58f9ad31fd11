"""Confirming Amazon SNS subscriptions: the one outbound call an adapter makes.

SNS sends nothing but a ``SubscriptionConfirmation`` until someone ``GET``\\ s its ``SubscribeURL``.
Once such a request is verified and stored, :meth:`Confirmer.submit` fetches the URL in the
background: only an ``https://sns.<region>.amazonaws.com[.cn]/`` URL (it is part of the signed
string, and checked again here), no redirects, retried after 2, 10, 30 and 120 s, every attempt
logged. The state of each topic's subscription (``pending``, ``confirmed``, ``failed``,
``unconfirmed`` when the connection sets ``confirm_subscriptions = false``, ``unsubscribed``) is kept
per connection for ``GET /v1/sns/subscriptions`` and the dashboard.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from smshook.events import iso

log = logging.getLogger("smshook.sns")
HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")  # where SNS serves certificates and SubscribeURLs

Fetch = Callable[[str], Awaitable[int]]  # GET url -> HTTP status (raises on a transport error)
DELAYS: tuple[float, ...] = (0.0, 2.0, 10.0, 30.0, 120.0)  # before each attempt


@dataclass
class Subscription:
    connection: str
    topic_arn: str
    state: str  # pending | confirmed | failed | unconfirmed | unsubscribed
    attempts: int = 0
    last_error: str | None = None
    updated_at: str | None = None
    message_id: str | None = None  # of the SubscriptionConfirmation (its raw request is stored)

    def public(self) -> dict[str, Any]:
        return asdict(self)


def subscribe_url_ok(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme == "https" and port is None and parts.username is None
            and HOST.fullmatch(parts.hostname or "") is not None)


async def fetch_url(url: str) -> int:
    import httpx

    async with httpx.AsyncClient(follow_redirects=False, timeout=10.0) as client:
        response = await client.get(url)
        return response.status_code


class Confirmer:
    """Background confirmations and the subscriptions' states (one per process)."""

    def __init__(self, fetch: Fetch = fetch_url, delays: tuple[float, ...] = DELAYS) -> None:
        self.fetch = fetch
        self.delays = delays
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _set(self, connection: str, topic: str, state: str, **changes: Any) -> Subscription:
        sub = self.subscriptions.get((connection, topic)) or Subscription(connection, topic, state)
        sub.state = state
        sub.updated_at = iso(datetime.now(UTC))
        for name, value in changes.items():
            setattr(sub, name, value)
        self.subscriptions[(connection, topic)] = sub
        return sub

    def submit(self, connection: str, topic: str, url: str, message_id: str | None, confirm: bool) -> None:
        """Record a stored SubscriptionConfirmation and, when ``confirm``, fetch its URL in the background."""
        if not confirm:
            self._set(connection, topic, "unconfirmed", attempts=0, message_id=message_id,
                      last_error="confirm_subscriptions is false: confirm it yourself (SubscribeURL is in the raw "
                                 "request)")
            log.warning("SNS subscription to %s on %s left unconfirmed (confirm_subscriptions = false)", topic,
                        connection, extra={"connection": connection})
            return
        if not subscribe_url_ok(url):
            self._set(connection, topic, "failed", message_id=message_id,
                      last_error="SubscribeURL is not an https://sns.<region>.amazonaws.com URL")
            log.error("SNS SubscribeURL for %s on %s refused: not an SNS URL", topic, connection)
            return
        self._set(connection, topic, "pending", attempts=0, last_error=None, message_id=message_id)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): nothing can run in the background
            self._set(connection, topic, "failed", last_error="no event loop to confirm in")
            return
        task = loop.create_task(self._confirm(connection, topic, url))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _confirm(self, connection: str, topic: str, url: str) -> None:
        for attempt, delay in enumerate(self.delays, start=1):
            if delay:
                await asyncio.sleep(delay)
            try:
                status = await self.fetch(url)
                error = None if status == 200 else f"SubscribeURL answered {status}"
            except Exception as exc:  # a transport error: retried like a bad status
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
            if error is None:
                self._set(connection, topic, "confirmed", attempts=attempt, last_error=None)
                log.info("SNS subscription to %s on %s confirmed (attempt %d)", topic, connection, attempt,
                         extra={"connection": connection})
                return
            last = attempt == len(self.delays)
            self._set(connection, topic, "failed" if last else "pending", attempts=attempt, last_error=error)
            log.warning("SNS subscription to %s on %s: confirmation attempt %d failed: %s%s", topic, connection,
                        attempt, error, "; giving up (re-subscribe in AWS to retry)" if last else "",
                        extra={"connection": connection})

    def unsubscribed(self, connection: str, topic: str, message_id: str | None) -> None:
        self._set(connection, topic, "unsubscribed", message_id=message_id, last_error=None)
        log.warning("SNS subscription to %s on %s was removed (UnsubscribeConfirmation)", topic, connection,
                    extra={"connection": connection})

    def listing(self) -> list[dict[str, Any]]:
        return [sub.public() for _, sub in sorted(self.subscriptions.items())]

    async def drain(self) -> None:
        """Wait for the confirmations under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


CONFIRMER = Confirmer()
