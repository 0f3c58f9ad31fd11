"""The dispatcher: a background task that claims due deliveries and sends them.

Every state change goes through the store (durable): a claim leases deliveries for ``lease``
seconds; the outcome of each attempt is recorded (delivered, retry at a time, dead-lettered).
A dispatcher killed mid-flight loses nothing: its leases expire and the deliveries are claimed
again, with the same webhook-id, so receivers can deduplicate (at-least-once delivery).

Retries follow ``schedule`` (seconds before attempt 1, 2, …; the default spans about a day), each
delay spread by ±``jitter``; a 429/503 with Retry-After waits as told instead (capped); a 410 Gone
disables the subscription (its deliveries wait until it is enabled again). After the last attempt
a delivery is dead-lettered: kept, listed, and replayable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from smshook.forwarding import signing
from smshook.forwarding.display import shown_target
from smshook.forwarding.model import Claimed, Outcome
from smshook.forwarding.sinks import RedisSink, SendResult, Sink, WebhookSink
from smshook.forwarding.targets import UnsafeTarget, check_resolved
from smshook.storage.base import Store

log = logging.getLogger("smshook.forwarding")

# Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 28 hours.
DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.1
    timeout: float = 10.0
    concurrency: int = 16
    lease: float = 60.0
    poll_interval: float = 0.5
    max_retry_after: float = 36000.0
    allow_private_targets: bool = False  # forwarding_allow_private_targets (see forwarding/targets.py)


def next_outcome(config: DispatchConfig, result: SendResult, attempts_before: int, now: float) -> Outcome:
    """What to do after an attempt: delivered, retry later, dead-letter, or disable (410)."""
    if result.ok:
        return Outcome("delivered", now, http_status=result.status)
    if result.gone:
        return Outcome("pending", now, next_attempt_at=now, error=result.error, http_status=result.status,
                       disable=f"{result.error} (the receiver asked for no more deliveries)")
    made = attempts_before + 1
    if made >= len(config.schedule):
        return Outcome("dead", now, error=result.error, http_status=result.status)
    if result.retry_after is not None:
        delay = min(result.retry_after, config.max_retry_after)
    else:
        delay = config.schedule[made] * random.uniform(1 - config.jitter, 1 + config.jitter)
    return Outcome("pending", now, next_attempt_at=now + delay, error=result.error, http_status=result.status)


class Dispatcher:
    # Observer, for metrics: (subscription id, outcome) after each attempt; outcome is delivered,
    # failed (to be retried), dead (dead-lettered) or disabled (410 Gone).
    on_attempt: Callable[[str, str], None] | None = None

    def __init__(self, store: Store, config: DispatchConfig | None = None,
                 sinks: dict[str, Sink] | None = None) -> None:
        self.store = store
        self.config = config or DispatchConfig()
        self.sinks: dict[str, Sink] = sinks if sinks is not None else {"webhook": WebhookSink(), "redis": RedisSink()}
        self.owner = f"dispatcher-{uuid.uuid4().hex[:12]}"
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="smshook-dispatcher")

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming, give in-flight sends ``grace`` seconds, then cancel them (their leases expire
        and another dispatcher, or this one after a restart, sends them again)."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        while task is not None and not task.done():
            # Python 3.11's wait_for can swallow a cancellation that races its timeout: insist.
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for sink in self.sinks.values():
            with contextlib.suppress(Exception):
                await sink.aclose()

    # -- work -------------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim what is due now and send it all (awaiting the results); returns how many were sent."""
        claimed = await self._claim(self.config.concurrency)
        await asyncio.gather(*(self._deliver(c) for c in claimed))
        return len(claimed)

    async def _claim(self, limit: int) -> list[Claimed]:
        now = time.time()
        lease = max(self.config.lease, self.config.timeout + 1)
        return await self.store.claim_deliveries(self.owner, now, lease, limit)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down or similar: keep trying
                log.warning("dispatcher: %s", exc)
                await asyncio.sleep(self.config.poll_interval * 4)

    async def _tick(self) -> None:
        free = self.config.concurrency - len(self._running)
        if free <= 0:
            await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
            return
        due = await self.store.next_due()  # a cheap read: claiming is a durable write
        now = time.time()
        if due is not None and due <= now:
            claimed = await self._claim(free)
            for item in claimed:
                task = asyncio.create_task(self._deliver(item))
                self._running.add(task)
                task.add_done_callback(self._finished)
            if claimed:
                return
            due = None  # due but not claimable (an ordered message waits for an earlier event): poll
        wait = self.config.poll_interval if due is None else min(self.config.poll_interval, max(due - now, 0.01))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("dispatcher: delivery task failed: %s", task.exception())

    async def _deliver(self, item: Claimed) -> None:
        sub = item.subscription
        sink = self.sinks.get(sub.kind)
        body = signing.payload(item.event)
        took_ms = 0.0
        unsafe = None
        if sub.kind == "webhook":
            try:  # checked again now: the name may resolve to a private or metadata address today
                await check_resolved(sub.target, self.config.allow_private_targets)
            except UnsafeTarget as exc:
                unsafe = f"unsafe target: {exc}"
        if unsafe is not None:
            result = SendResult(False, error=unsafe)
        elif sink is None:
            result = SendResult(False, error=f"no sink for {sub.kind!r}")
        else:
            started = time.monotonic()
            try:
                result = await sink.send(item, body, sub.timeout or self.config.timeout)
            except Exception as exc:  # a sink bug must not lose the delivery
                result = SendResult(False, error=f"{type(exc).__name__}: {exc}")
            took_ms = round((time.monotonic() - started) * 1000, 1)
        outcome = next_outcome(self.config, result, item.attempts, time.time())
        # One line per attempt, from smshook (the HTTP client's own lines, which show the whole URL, are
        # silenced in smshook.logs): the webhook-id and the target with its query string masked.
        fields = {"webhook_id": item.id, "subscription": sub.id, "target": shown_target(sub),
                  "attempt": item.attempts + 1, "outcome": outcome.state, "http_status": result.status}
        if sink is not None:
            fields["latency_ms"] = took_ms
        if outcome.state == "delivered":
            log.info("delivery %s to %s (%s) delivered (attempt %d)", item.id, sub.id, fields["target"],
                     item.attempts + 1, extra=fields)
        else:
            log.info("delivery %s to %s (%s) failed (attempt %d): %s", item.id, sub.id, fields["target"],
                     item.attempts + 1, result.error, extra=fields)
        if outcome.disable:
            log.warning("subscription %s disabled: %s", sub.id, outcome.disable)
        try:
            await self.store.record_attempt(item.id, item.lease_owner, outcome)
        finally:  # counted once recorded, so a scrape never sees the attempt before the backlog shrank
            if self.on_attempt is not None:
                self.on_attempt(sub.id, "disabled" if outcome.disable else
                                "failed" if outcome.state == "pending" else outcome.state)
