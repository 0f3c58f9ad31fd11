"""Fixtures shared by the whole suite."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from smshook.logs import StderrHandler
from tests.pgcluster import Cluster, start_cluster


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SMSHOOK_* variables from the caller's shell, and a scratch working directory."""
    for name in list(os.environ):
        if name.upper().startswith("SMSHOOK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`smshook serve` run in-process (CliRunner) installs its log handler and level on the root logger:
    take them away again so later tests log as before."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
        logging.captureWarnings(False)


# -- PostgreSQL: one throwaway cluster per test session (tests/pgcluster.py) ----------------------
@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """The cluster; PostgreSQL missing fails the tests that need it (SMSHOOK_TEST_PG=skip skips them)."""
    if os.environ.get("SMSHOOK_TEST_PG") == "skip":
        pytest.skip("SMSHOOK_TEST_PG=skip: PostgreSQL tests skipped")
    from tests.e2e.conftest import free_port

    try:
        cluster = start_cluster(free_port())
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace") if isinstance(exc, subprocess.CalledProcessError) else ""
        pytest.fail(f"cannot start a PostgreSQL test cluster: {exc} {detail}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: Cluster) -> str:
    """postgresql://postgres@127.0.0.1:PORT/postgres — create your own databases in it."""
    return postgres_cluster.url


@pytest.fixture
def postgres_database(postgres_cluster: Cluster) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    url = postgres_cluster.create_database()
    try:
        yield url
    finally:
        postgres_cluster.drop_database(url)
