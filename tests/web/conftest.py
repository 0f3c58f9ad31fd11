"""Shared fixtures for the in-process web tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smshook.storage.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """An open SQLite store in a temporary directory, closed afterwards."""
    s = SQLiteStore(tmp_path / "smshook.db")
    await s.open()
    yield s
    await s.close()
