"""Shared fixtures for the in-process web tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from smshook.app import SmshookApp
from smshook.settings import load_settings
from smshook.storage.sqlite import SQLiteStore

API_TOKEN = "a-long-enough-api-token"
AUTH = {"authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """An open SQLite store in a temporary directory, closed afterwards."""
    s = SQLiteStore(tmp_path / "smshook.db")
    await s.open()
    yield s
    await s.close()


@contextlib.asynccontextmanager
async def app_client(app: SmshookApp) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of ``app``, with the app's store opened first and closed afterwards."""
    await app.store.open()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
            yield client
    finally:
        await app.store.close()


@pytest.fixture
async def token_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with the API token ``API_TOKEN`` (send ``AUTH``), no connections configured."""
    async with app_client(SmshookApp(load_settings(api_token=API_TOKEN), SQLiteStore(tmp_path / "x.db"))) as c:
        yield c
