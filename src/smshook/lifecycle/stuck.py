"""Stuck messages: a message with no final status ``final_within`` after it was sent (its
registration's ``sent_at``, else when smshook first heard of it: a replay of old receipts is not
stuck by the provider's old times) gets
a synthetic ``expired`` status event, stored, listed and forwarded like any other.

The event has ``provider_status`` ``no_final_receipt`` and ``details.synthetic`` true; its
``occurred_at`` is the deadline, so its idempotency key is the same whichever process makes it (one
event per message, ever). A real final receipt that arrives later replaces it (effect
``late_final``: :func:`smshook.status.advance`); one that arrived meanwhile makes it late, and a late
synthetic event is not stored at all.

:class:`Sweeper` runs in every server process; a lease (``lifecycle_leases``) lets one of them sweep
at a time, in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from smshook.events import Event, finalize, stamp, uuid7
from smshook.lifecycle import store as lifecycle_store
from smshook.lifecycle.options import LifecycleOptions
from smshook.periodic import every
from smshook.storage.base import RawRecord

if TYPE_CHECKING:
    from smshook.storage.base import Store

log = logging.getLogger("smshook.lifecycle")
PROVIDER_STATUS = "no_final_receipt"
LEASE = "stuck-sweep"
BATCH = 500


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def expired_events(connection: str, provider: str, overdue: list[tuple[str, str]], final_within: float,
                   now: datetime) -> list[Event]:
    """The synthetic ``expired`` events for ``overdue`` ``(message_id, started_at)`` pairs (pure)."""
    events = []
    for message_id, started in overdue:
        deadline = _time(started) + timedelta(seconds=final_within)
        events.append(Event(
            type="status", message_id=message_id, status="expired", provider_status=PROVIDER_STATUS,
            failure_class="temporary", occurred_at=min(deadline, now), synthetic=True,
            details={"synthetic": True, "reason": f"no final status within {_span(final_within)} of {started}",
                     "started_at": started},
        ))
    return finalize(events, connection, provider, now)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


async def sweep_once(store: Store, connections: Mapping[str, tuple[str, LifecycleOptions]],
                     now: datetime | None = None, batch: int = BATCH,
                     renew: Callable[[], Awaitable[bool]] | None = None) -> int:
    """One pass over every connection (``name -> (provider slug, options)``): expire what is overdue,
    in batches of ``batch``; returns how many synthetic events were stored. ``renew`` is called before
    each batch: when it answers False (the lease was lost) the pass stops."""
    total = 0
    for name, (provider, options) in sorted(connections.items()):
        if options.final_within <= 0:
            continue
        while True:
            if renew is not None and not await renew():
                return total
            at = now or datetime.now(UTC)
            cutoff = stamp(at - timedelta(seconds=options.final_within)) or ""
            overdue = await lifecycle_store.overdue(store, name, cutoff, batch)
            if not overdue:
                break
            events = expired_events(name, provider, overdue, options.final_within, at)
            received = stamp(at) or ""
            raw = RawRecord(id=uuid7(), connection=name, provider=provider, method="INTERNAL",
                            path="/lifecycle/stuck", query="", headers=(), body=b"", client=None, received_at=received)
            result = await store.append(raw, events)
            total += result.new_count
            if len(overdue) < batch:
                break
    return total


class Sweeper:
    """The background task: every ``interval`` seconds, take the lease and sweep."""

    def __init__(self, store: Store, connections: Mapping[str, tuple[str, LifecycleOptions]], *,
                 interval: float = 60.0, batch: int = BATCH, on_stored: object = None) -> None:
        self.store = store
        self.connections = dict(connections)
        self.interval = interval
        self.batch = batch
        self.owner = f"sweeper-{uuid.uuid4().hex[:12]}"
        self.on_stored = on_stored
        self._task: asyncio.Task[None] | None = None

    @property
    def needed(self) -> bool:
        return any(o.final_within > 0 for _, o in self.connections.values())

    def start(self) -> None:
        if self.needed and self._task is None:
            self._task = asyncio.create_task(self._run(), name="smshook-stuck-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(Exception):
                await lifecycle_store.drop_lease(self.store, LEASE, self.owner)

    async def run_once(self) -> int:
        """Sweep now if this process gets the lease (else 0)."""
        lease = max(self.interval * 3, 60.0)

        async def renew() -> bool:
            return await lifecycle_store.take_lease(self.store, LEASE, self.owner, lease)

        if not await renew():
            return 0
        stored = await sweep_once(self.store, self.connections, batch=self.batch, renew=renew)
        if stored:
            log.info("stuck messages: %d synthetic expired events stored", stored)
            if callable(self.on_stored):
                self.on_stored()
        return stored

    async def _run(self) -> None:
        await every(self.interval, self.run_once, lambda exc: log.warning("stuck-message sweep failed: %s", exc))
