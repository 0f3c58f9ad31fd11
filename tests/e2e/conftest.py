"""A real smshook server process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def all_events(client: httpx.Client, base: str, **params: Any) -> list[dict[str, Any]]:
    """Every event the API holds for these filters, following the cursor."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{base}/v1/events", params=query).json()
        out += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


@dataclass
class Server:
    workdir: Path
    config: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    args: list[str] = field(default_factory=list)  # more `serve` arguments, e.g. ["--workers", "2"]
    database_url: str | None = None  # default: sqlite:///{workdir}/smshook.db

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.workdir / "smshook.db"

    def start(self, timeout: float = 20.0) -> Server:
        self.port = self.port or free_port()
        args = [sys.executable, "-m", "smshook", "serve", "--port", str(self.port),
                "--database", self.database_url or f"sqlite:///{self.database}", *self.args]
        if self.config is not None:
            args += ["--config", str(self.config)]
        self.log = self.workdir / f"server-{self.port}.log"
        # The test receivers listen on 127.0.0.1: allow loopback webhook targets (tests that check the
        # refusal set it to false in `env`).
        env = {"SMSHOOK_FORWARDING_ALLOW_PRIVATE_TARGETS": "true", **os.environ, **self.env}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(args, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not become ready:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[Server]]:
    started: list[Server] = []

    class Factory(Server):
        def __init__(self, **kw: object) -> None:
            super().__init__(workdir=tmp_path, **kw)  # type: ignore[arg-type]
            started.append(self)

    yield Factory
    for s in started:
        s.stop()


@pytest.fixture
def server(server_factory: type[Server]) -> Server:
    return server_factory().start()
