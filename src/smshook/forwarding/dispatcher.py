"""The dispatcher: a background task that claims due deliveries and sends them.

Every state change goes through the store (durable): a claim leases deliveries for ``lease``
seconds; the outcome of each attempt is recorded (delivered, retry at a time, dead-lettered).
A dispatcher killed mid-flight loses nothing: its leases expire and the deliveries are claimed
again, with the same webhook-id, so receivers can deduplicate (at-least-once delivery).

Retries follow ``schedule`` (seconds before attempt 1, 2, …; the default spans about a day), each
delay spread by ±``jitter``; a 429/503 with Retry-After waits as told instead (capped); a 410 Gone
disables the subscription (its deliveries wait until it is enabled again). After the last attempt
a delivery is dead-lettered: kept, listed, and replayable.

Throughput (issue 18): claims take as many due deliveries as there is room for in one transaction;
outcomes are recorded in batches (one transaction for every attempt that finished meanwhile); the
webhook sink keeps a pool of keep-alive connections per target. Each subscription (target) has its
own concurrency limit that adapts to the receiver (:class:`TargetLimit`: grows while answers stay
as fast as the fastest seen, shrinks when they slow down or fail) and pauses when the receiver
answers 429/503 with Retry-After: its deliveries are not claimed until then (those already claimed
hand their lease back, no attempt counted), while other subscriptions go on at full speed.

Batch mode (``batch_max`` > 1, webhooks only): up to ``batch_max`` due deliveries of a subscription
go in one signed POST whose body is a JSON array (see :func:`smshook.forwarding.signing.batch_payload`),
waiting at most ``batch_wait`` seconds for the batch to fill. The batch's outcome is every member's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from smshook.forwarding import signing
from smshook.forwarding.display import shown_target
from smshook.forwarding.model import DEFAULT_SCHEDULE, Claimed, Outcome, Subscription
from smshook.forwarding.sinks import RedisSink, SendResult, Sink, WebhookSink
from smshook.forwarding.targets import UnsafeTarget, check_resolved
from smshook.storage.base import Store

log = logging.getLogger("smshook.forwarding")

HOLD_MIN = 256  # deliveries a dispatcher may hold at least (see Dispatcher._budget)
PIPELINE_MAX = 100  # deliveries of one Redis subscription XADDed in one pipelined round trip


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.1
    timeout: float = 10.0
    concurrency: int = 16  # requests in flight at once, all targets together (each target adapts below it)
    lease: float = 60.0
    poll_interval: float = 0.5
    max_retry_after: float = 36000.0
    allow_private_targets: bool = False  # forwarding_allow_private_targets (see forwarding/targets.py)
    record_batch: int = 500  # at most this many outcomes in one recording transaction


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


@dataclass(slots=True)
class TargetLimit:
    """How many requests one target (subscription) may have in flight: additive increase while its
    answers come as fast as the fastest seen lately, multiplicative decrease when they slow down
    (the receiver queues; down to a quarter of ``ceiling`` at most) or fail with 429/503/timeouts/
    connection errors (down to one); a Retry-After on 429/503
    pauses the target until then. Starts small and doubles per round trip until the first sign of
    trouble (slow start)."""

    ceiling: int
    limit: float = 4.0
    in_flight: int = 0
    paused_until: float = 0.0
    best: float | None = None  # the fastest answer seen lately (seconds), drifting up slowly
    slow_start: bool = True

    def __post_init__(self) -> None:
        self.limit = float(min(self.limit, self.ceiling))

    def room(self) -> int:
        return max(0, int(self.limit) - self.in_flight)

    def paused(self, now: float) -> bool:
        return self.paused_until > now

    def observe(self, result: SendResult, seconds: float, now: float, max_pause: float) -> None:
        if result.retry_after is not None and result.status in (429, 503):
            self.paused_until = max(self.paused_until, now + min(result.retry_after, max_pause))
            self._decrease(0.5)
            return
        if not result.ok and (result.status in (429, 503) or result.status is None):
            self._decrease(0.5)  # told to slow down, timed out or could not connect
            return
        if result.ok:
            best = seconds if self.best is None else min(self.best * 1.01, seconds)
            self.best = best
            # Slowness alone is weak evidence (a receiver may simply be slow, or slow on first sight
            # of a message): below a quarter of the ceiling it does not count, only failures take the
            # limit lower. Otherwise a receiver taking seconds per answer got one request at a time,
            # and the deliveries claimed meanwhile were handed back over and over.
            floor = self.ceiling / 4
            if seconds > 2 * best + 0.005 and self.limit > floor:  # slower than usual: it may be queueing
                self._decrease(0.9, floor=floor)
            elif self.slow_start:
                self.limit = min(float(self.ceiling), self.limit + 1)
            else:
                self.limit = min(float(self.ceiling), self.limit + 1 / self.limit)

    def _decrease(self, factor: float, floor: float = 1.0) -> None:
        self.slow_start = False
        self.limit = max(min(self.limit, max(1.0, floor)), self.limit * factor)


@dataclass(slots=True)
class _Held:
    item: Claimed
    lease_until: float
    since: float  # when it was claimed (batch_wait counts from here)


@dataclass(slots=True)
class _Target:
    """A subscription's local state: its limit and the claimed deliveries waiting for a slot."""

    subscription: Subscription
    limit: TargetLimit
    waiting: deque[_Held] = field(default_factory=deque)
    timer: asyncio.TimerHandle | None = None


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
        self.targets: dict[str, _Target] = {}
        self._task: asyncio.Task[None] | None = None
        self._recorder: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._woken = True  # claim at once on start
        self._stopping = False
        self._held = 0  # claimed deliveries whose outcome is not recorded yet
        self._outcomes: list[tuple[str, Outcome, str]] = []  # (delivery id, outcome, subscription id)
        self._recording = False
        self._record_ready = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._recorder = asyncio.create_task(self._record_loop(), name="smshook-dispatcher-recorder")
            self._task = asyncio.create_task(self._loop(), name="smshook-dispatcher")

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._woken = True
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming, give in-flight sends ``grace`` seconds, then cancel them (their leases expire
        and another dispatcher, or this one after a restart, sends them again). Deliveries claimed but
        not started are handed back at once; outcomes already known are recorded."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        while task is not None and not task.done():
            # Python 3.11's wait_for can swallow a cancellation that races its timeout: insist.
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        now = time.time()
        for target in self.targets.values():
            if target.timer is not None:
                target.timer.cancel()
            while target.waiting:
                self._hand_back(target.waiting.popleft().item, now)
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=grace)
            for running in pending:
                running.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        recorder = self._recorder
        if recorder is not None:
            with contextlib.suppress(Exception):  # the recorder, still running, records what is known
                await asyncio.wait_for(self._flush(), timeout=max(grace, 1))
            self._recorder = None
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)
        for sink in self.sinks.values():
            with contextlib.suppress(Exception):
                await sink.aclose()

    # -- work -------------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim what is due now and send it all (awaiting the results); returns how many were sent."""
        claimed = await self._claim(self.config.concurrency, ())
        now = time.time()
        for sub_id, items in _by_subscription(claimed).items():
            target = self._target(sub_id, items[0].subscription)
            size = _group_size(target.subscription)
            for i in range(0, len(items), size):
                self._held += len(items[i:i + size])
                target.limit.in_flight += 1
                await self._send([_Held(c, now + self.config.lease, now) for c in items[i:i + size]], target)
        await self._flush()
        return len(claimed)

    async def _claim(self, limit: int, skip: Sequence[str], now: float | None = None) -> list[Claimed]:
        now = time.time() if now is None else now
        lease = max(self.config.lease, self.config.timeout + 1)
        return await self.store.claim_deliveries(self.owner, now, lease, limit, skip)

    def _target(self, sub_id: str, sub: Subscription) -> _Target:
        target = self.targets.get(sub_id)
        if target is None:
            target = self.targets[sub_id] = _Target(sub, TargetLimit(self.config.concurrency))
        else:
            target.subscription = sub  # the latest settings (batch size, secrets, URL)
        return target

    def _budget(self) -> int:
        """How many deliveries this dispatcher may hold (claimed, not yet recorded) at once: enough that
        the next claim overlaps the sends and the recordings (on PostgreSQL each is a commit of a few
        ms: 32 held gave 860 webhooks/s, 256 gave 1,730). Each target's share is bounded by its own
        limit (see _skip), so a slow receiver never holds many."""
        widest = max((_group_size(t.subscription) for t in self.targets.values()), default=1)
        return max(4 * self.config.concurrency, HOLD_MIN) * min(widest, 10)

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
        self._wake.clear()  # a wake() from here on (even during the claim) ends the wait below
        now = time.time()
        free = self._budget() - self._held
        due: float | None = None
        claimed: list[Claimed] = []
        if free > 0:
            if not self._woken:
                due = await self.store.next_due()  # a cheap read: claiming is a durable write
            if self._woken or (due is not None and due <= now):
                self._woken = False
                now = time.time()
                claimed = await self._claim(free, self._skip(now), now)
                self._take(claimed, now)  # the lease runs from the claim's own clock
                if len(claimed) == free:
                    self._woken = True  # probably more due: claim again as soon as there is room
                    due = None
                elif not claimed:
                    due = None  # due but not claimable (an ordered message waits, a target paused): poll
        if self._woken and self._budget() - self._held > 0:
            return
        wait = self.config.poll_interval if due is None else min(self.config.poll_interval, max(due - now, 0.01))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait)

    def _skip(self, now: float) -> list[str]:
        """Subscriptions not to claim for now: paused by their receiver, or with enough waiting here."""
        return [sub_id for sub_id, t in self.targets.items()
                if t.limit.paused(now) or len(t.waiting) >= max(1, int(t.limit.limit)) * _group_size(t.subscription)]

    def _take(self, claimed: list[Claimed], now: float) -> None:
        lease_until = now + max(self.config.lease, self.config.timeout + 1)
        self._held += len(claimed)
        for sub_id, items in _by_subscription(claimed).items():
            target = self._target(sub_id, items[0].subscription)
            target.waiting.extend(_Held(c, lease_until, now) for c in items)
            self._pump(target)

    def _pump(self, target: _Target) -> None:
        """Start as many requests for ``target`` as its limit (and ``concurrency``, for all targets
        together) allows."""
        now = time.time()
        sub = target.subscription
        if target.limit.paused(now):  # told to wait: hand the claimed deliveries back, no attempt
            while target.waiting:
                self._hand_back(target.waiting.popleft().item, target.limit.paused_until)
            return
        size = _group_size(sub)
        timeout = sub.timeout or self.config.timeout
        while (target.waiting and target.limit.room() > 0 and len(self._running) < self.config.concurrency
               and not self._stopping):
            if (sub.kind == "webhook" and len(target.waiting) < size
                    and now - target.waiting[0].since < sub.batch_wait):
                if target.timer is None:  # send what there is when the oldest has waited long enough
                    delay = target.waiting[0].since + sub.batch_wait - now
                    target.timer = asyncio.get_running_loop().call_later(delay, self._batch_due, target)
                return
            group: list[_Held] = []
            while target.waiting and len(group) < size:
                held = target.waiting.popleft()
                if held.lease_until - timeout < now:  # too late to send under this lease
                    self._hand_back(held.item, now)
                else:
                    group.append(held)
            if group:
                target.limit.in_flight += 1
                task = asyncio.create_task(self._send(group, target))
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _batch_due(self, target: _Target) -> None:
        target.timer = None
        self._pump(target)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()
        for target in self.targets.values():  # a slot is free: the next request may start
            if target.waiting:
                self._pump(target)
        if not task.cancelled() and task.exception() is not None:
            log.error("dispatcher: delivery task failed: %s", task.exception())

    def _hand_back(self, item: Claimed, at: float) -> None:
        self._outcome(item.id, Outcome("pending", time.time(), next_attempt_at=at, attempted=False),
                      item.subscription.id)

    async def _send(self, group: list[_Held], target: _Target) -> None:
        sub = target.subscription
        items = [h.item for h in group]
        sink = self.sinks.get(sub.kind)
        limit = sub.timeout or self.config.timeout
        started = time.perf_counter()
        results: list[SendResult]
        try:
            unsafe = await self._unsafe(sub)
            if unsafe is not None:
                results = [SendResult(False, error=unsafe)] * len(items)
            elif sink is None:
                results = [SendResult(False, error=f"no sink for {sub.kind!r}")] * len(items)
            elif sub.kind == "webhook" and sub.batch_max > 1 and isinstance(sink, WebhookSink):
                msg_id, body = signing.batch_payload([(c.id, c.event) for c in items])
                results = [await sink.post(sub, msg_id, body, limit)] * len(items)
            elif len(items) > 1 and isinstance(sink, RedisSink):
                results = await sink.send_many(items, [signing.payload(c.event) for c in items], limit)
            else:
                results = [await sink.send(c, signing.payload(c.event), limit) for c in items]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a sink bug must not lose the delivery
            results = [SendResult(False, error=f"{type(exc).__name__}: {exc}")] * len(items)
        finally:
            target.limit.in_flight -= 1
        now = time.time()
        took = time.perf_counter() - started
        target.limit.observe(_worst(results), took, now, self.config.max_retry_after)
        shown = shown_target(sub)
        for item, result in zip(items, results, strict=True):
            outcome = next_outcome(self.config, result, item.attempts, now)
            # One line per attempt, from smshook (the HTTP client's own lines, which show the whole URL,
            # are silenced in smshook.logs): the webhook-id and the target with its query string masked.
            fields = {"webhook_id": item.id, "subscription": sub.id, "target": shown, "attempt": item.attempts + 1,
                      "outcome": outcome.state, "http_status": result.status, "latency_ms": round(took * 1000, 1)}
            if outcome.state == "delivered":
                log.info("delivery %s to %s (%s) delivered (attempt %d)", item.id, sub.id, shown,
                         item.attempts + 1, extra=fields)
            else:
                log.info("delivery %s to %s (%s) failed (attempt %d): %s", item.id, sub.id, shown,
                         item.attempts + 1, result.error, extra=fields)
            if outcome.disable:
                log.warning("subscription %s disabled: %s", sub.id, outcome.disable)
            self._outcome(item.id, outcome, sub.id)
        self._wake.set()

    async def _unsafe(self, sub: Subscription) -> str | None:
        """Why a webhook's target may not be called now, or None. Checked before every request: the
        name may resolve to a private or metadata address today (forwarding/targets.py)."""
        if sub.kind != "webhook":
            return None
        try:
            await check_resolved(sub.target, self.config.allow_private_targets)
        except UnsafeTarget as exc:
            return f"unsafe target: {exc}"
        return None

    # -- recording --------------------------------------------------------------------------------
    def _outcome(self, delivery_id: str, outcome: Outcome, subscription_id: str) -> None:
        self._outcomes.append((delivery_id, outcome, subscription_id))
        self._record_ready.set()

    async def _flush(self) -> None:
        """Wait until every outcome known now is recorded (or its recording failed). Records them itself
        only when no recorder runs; otherwise (also while a recording is under way) it yields, so the
        recorder can finish: a loop that never awaits would never let it."""
        while self._outcomes or self._recording:
            if (self._recorder is None or self._recorder.done()) and self._outcomes:
                await self._record(self._take_outcomes())
            else:
                self._record_ready.set()
                await asyncio.sleep(0.005)

    def _take_outcomes(self) -> list[tuple[str, Outcome, str]]:
        chunk = self._outcomes[:self.config.record_batch]
        del self._outcomes[:self.config.record_batch]
        return chunk

    async def _record_loop(self) -> None:
        """Record outcomes in batches: whatever finished while the previous batch was committing goes
        in the next transaction together."""
        while True:
            await self._record_ready.wait()
            self._record_ready.clear()
            while self._outcomes:
                self._recording = True
                try:
                    await self._record(self._take_outcomes())
                finally:
                    self._recording = False

    async def _record(self, chunk: list[tuple[str, Outcome, str]]) -> None:
        if not chunk:
            return
        try:
            await self.store.record_attempts(self.owner, [(d, o) for d, o, _ in chunk])
        except Exception as exc:  # not recorded: the leases expire and the deliveries are sent again
            log.error("dispatcher: could not record %d outcomes: %s", len(chunk), exc)
        finally:  # counted once recorded, so a scrape never sees the attempt before the backlog shrank
            self._held -= len(chunk)
            self._wake.set()
            if self.on_attempt is not None:
                for _, outcome, sub_id in chunk:
                    if outcome.attempted:
                        with contextlib.suppress(Exception):  # an observer's bug must not stop the recorder
                            self.on_attempt(sub_id, "disabled" if outcome.disable else
                                            "failed" if outcome.state == "pending" else outcome.state)


def _by_subscription(claimed: list[Claimed]) -> dict[str, list[Claimed]]:
    groups: dict[str, list[Claimed]] = {}
    for item in claimed:
        groups.setdefault(item.subscription.id, []).append(item)
    return groups


def _group_size(sub: Subscription) -> int:
    """Deliveries per request: a webhook batch, a Redis pipeline, or one."""
    if sub.kind == "webhook":
        return max(1, sub.batch_max)
    return PIPELINE_MAX


def _worst(results: list[SendResult]) -> SendResult:
    """The result a mixed group's target limit should react to (a failure over a success)."""
    return next((r for r in results if not r.ok), results[0])
