"""The backend fixture: every test in this folder (and the store-level forwarding tests) runs against
every storage backend. PostgreSQL runs on a throwaway cluster (see tests/pgcluster.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smshook.storage import Store
from smshook.storage.postgres import PostgresStore
from smshook.storage.sqlite import SQLiteStore

BACKENDS = ["sqlite", "postgresql"]


def same_database(store: Store) -> Store:
    """A second, unopened store of the same backend on the same database (another process or instance)."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    if isinstance(store, PostgresStore):
        return PostgresStore(store.url)
    raise TypeError(f"unknown backend {type(store).__name__}")


def new_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if backend == "postgresql":
        return PostgresStore(request.getfixturevalue("postgres_database"))
    return SQLiteStore(tmp_path / "smshook.db")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = new_store(backend, request, tmp_path)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
