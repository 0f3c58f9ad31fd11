"""The ASGI lifespan: the store opened and closed, and the collector tuned only for a server."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smshook.app import GC_THRESHOLD, SmshookApp
from smshook.settings import load_settings


@pytest.fixture
def collector() -> Iterator[None]:
    """Whatever a test does to the collector is undone afterwards."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


async def run_lifespan(app: SmshookApp) -> list[str]:
    """Start the app, stop it, return the lifespan messages it sent."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            await inbox.put({"type": "lifespan.shutdown"})

    await inbox.put({"type": "lifespan.startup"})
    await app({"type": "lifespan"}, inbox.get, send)
    return sent


@pytest.mark.parametrize("server", [True, False])
async def test_a_server_freezes_start_up_objects_and_collects_less_often(
        tmp_path: Path, collector: None, server: bool) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    app = SmshookApp(load_settings(database=f"sqlite:///{tmp_path / 's.db'}"), server=server)
    assert await run_lifespan(app) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    if server:  # the objects alive after start-up (the app, its models) are out of the collector's view
        assert gc.get_freeze_count() > 1000 and gc.get_threshold() == (GC_THRESHOLD, 10, 10)
    else:  # an app embedded in someone else's process leaves their collector alone
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == (700, 10, 10)
