"""Fixtures for the forwarding tests: a real webhook receiver process and a real redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import free_port, server_factory  # noqa: F401  (re-exported fixture)
from tests.redisserver import redis_server
from tests.storage.conftest import backend, store  # noqa: F401  (every store-level test runs on every backend)

RECEIVER = Path(__file__).with_name("receiver.py")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Receiver:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r["path"] != "/probe"]  # the readiness probe may be logged late
        return [r for r in rows if path is None or r["path"] == path]

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.requests()
            if predicate(rows):
                return rows
            time.sleep(0.05)
        raise AssertionError(f"receiver condition not met in {timeout}s; got {len(self.requests())} requests")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    port = free_port()
    log = tmp_path / "receiver.jsonl"
    proc = subprocess.Popen([sys.executable, str(RECEIVER), str(port), str(log)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.post(f"{url}/probe", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield Receiver(url, log, proc)
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(free_port(), tmp_path_factory.mktemp("redis")) as url:
        if url is None:
            pytest.skip("redis-server is not installed (scripts/test installs the Debian package redis-server)")
        yield url
