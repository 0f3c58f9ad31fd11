"""The background pruner: deletes what is older than its retention (``[retention]``), a small batch
per transaction with a pause between batches, so ingestion never waits for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from smshook.periodic import every
from smshook.privacy import Retention, parse_duration
from smshook.settings import Settings
from smshook.storage import privacy
from smshook.storage.base import Store

log = logging.getLogger("smshook.retention")

PAUSE = 0.05  # seconds between two batches: the writer serves ingestion meanwhile


class Pruner:
    def __init__(self, store: Store, retention: Retention, interval: float, batch: int = privacy.BATCH) -> None:
        self.store = store
        self.retention = retention
        self.interval = interval
        self.batch = batch
        self.runs = 0  # completed passes (tests wait on it)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="smshook-pruner")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> dict[str, int]:
        counts = await privacy.prune(self.store, self.retention, batch=self.batch,
                                     pause=lambda: asyncio.sleep(PAUSE), actor="retention")
        if any(counts.values()):
            log.info("pruned expired rows: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        self.runs += 1
        return counts

    async def _loop(self) -> None:
        await every(self.interval, self.run_once,
                    lambda exc: log.warning("pruning failed (will try again in %gs): %s", self.interval, exc))


def pruner_for(store: Store, settings: Settings) -> Pruner | None:
    """The installation's pruner, or None when everything is kept for ever (the default)."""
    plan = settings.retention_plan()
    if not plan.active:
        return None
    interval = parse_duration(settings.retention.interval)
    assert interval is not None
    return Pruner(store, plan, interval.total_seconds(), settings.retention.batch_size)
