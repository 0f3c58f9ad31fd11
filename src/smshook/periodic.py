"""What the background tasks (the pruner, the stuck-message sweeper) share: a step repeated at an
interval that survives a failing store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def every(interval: float, step: Callable[[], Awaitable[object]], failed: Callable[[Exception], None]) -> None:
    """Run ``step`` now, then every ``interval`` seconds, until cancelled. A step that raises (the
    store is down, or similar) is reported to ``failed`` and tried again next time."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed(exc)
        await asyncio.sleep(interval)
