"""The backend fixture: every test in this folder runs against every storage backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smshook.storage import Store
from smshook.storage.sqlite import SQLiteStore

BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store = SQLiteStore(tmp_path / "smshook.db")
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
