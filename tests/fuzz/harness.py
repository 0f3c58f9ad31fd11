"""A whole smshook app (SQLite store, every registered provider on its own open connection) on an event
loop of its own, driven synchronously by Hypothesis tests through the real hook path (ASGI)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote_from_bytes

import httpx

from smshook.app import SmshookApp
from smshook.errors import ConfigError
from smshook.providers import registry
from smshook.settings import Settings, load_settings
from smshook.storage.sqlite import SQLiteStore
from smshook.web.protocol import MAX_LINE

VECTORS = Path(__file__).parent.parent / "providers" / "vectors"
T = TypeVar("T")


@dataclass(frozen=True)
class Seed:
    """A valid (or deliberately invalid) request of a provider, from its test vectors."""

    method: str
    query: bytes
    headers: tuple[tuple[str, str], ...]
    body: bytes


def seeds(slug: str) -> list[Seed]:
    """Every request of the provider's test vectors (an empty POST when it has none)."""
    out = []
    for path in sorted((VECTORS / slug).glob("*.json")):
        spec = json.loads(path.read_text("utf-8"))["request"]
        if "body_base64" in spec:
            body = base64.b64decode(spec["body_base64"])
        elif "body_json" in spec:
            body = json.dumps(spec["body_json"], ensure_ascii=False).encode()
        else:
            body = spec.get("body", "").encode()
        headers = tuple((k.lower(), v) for k, v in spec.get("headers", {}).items())
        out.append(Seed(spec.get("method", "POST"), spec.get("query", "").encode("latin-1"), headers, body))
    return out or [Seed("POST", b"", (), b"")]


def vector_options(slug: str) -> dict[str, Any]:
    """Connection options the provider's vectors use (credentials, signing secrets), merged."""
    options: dict[str, Any] = {}
    for path in sorted((VECTORS / slug).glob("*.json")):
        options.update(json.loads(path.read_text("utf-8")).get("connection", {}))
    options.pop("timezone", None)
    return options


def fuzz_settings() -> Settings:
    """One connection per registered provider, named after it. A provider whose connection needs
    options (a signing secret...) gets those of its vectors, or placeholders."""
    connections: dict[str, dict[str, Any]] = {}
    for slug, provider in registry().items():
        for options in ({}, vector_options(slug), {k: f"fuzz-{k}-0123456789abcdef" for k in provider.options}):
            candidate = {**connections, slug: {"provider": slug, **options}}
            try:
                load_settings(connections=candidate)
            except ConfigError:
                continue
            connections = candidate
            break
        else:
            raise AssertionError(f"cannot configure a connection for provider {slug!r}")
    return load_settings(connections=connections, forwarding=False)


class Capture(logging.Handler):
    """Every access line's outcome, and every record at ERROR or with a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.outcomes: Counter[str] = Counter()
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "smshook.access":
            self.outcomes[str(getattr(record, "outcome", "?"))] += 1
        if record.levelno >= logging.ERROR or record.exc_info:
            self.problems.append(f"{record.levelname} {record.name}: {record.getMessage()}")


class Harness:
    def __init__(self, folder: Path) -> None:
        self.database = folder / "fuzz.db"
        self.app = SmshookApp(fuzz_settings(), SQLiteStore(self.database))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self.thread.start()
        self.capture = Capture()
        self.access = logging.getLogger("smshook.access")
        self._level = self.access.level
        self.access.setLevel(logging.INFO)
        logging.getLogger().addHandler(self.capture)
        self.run(self.app.store.open())
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url="http://fuzz", timeout=60)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def send(self, method: str, path: str, query: bytes, headers: dict[str, str], body: bytes) -> httpx.Response:
        # As on the wire: a request target holds printable ASCII only (the rest percent-encoded), and
        # `smshook serve` refuses one over 8 KiB before the application sees it (web/protocol.py).
        target = quote_from_bytes(query, safe="&=;+%:/?@!$'()*,~[]{}|^`\"<>\\")[:MAX_LINE - len(path) - 16]
        url = httpx.URL(path, query=target.encode())
        return self.run(self.client.request(method, url, headers=headers, content=body))

    def counts(self) -> tuple[int, int, int]:
        """(raw requests, quarantine entries, quarantined attempts) as stored."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            raw = db.execute("SELECT count(*) FROM raw_requests").fetchone()[0]
            entries, attempts = db.execute("SELECT count(*), coalesce(sum(attempts), 0) FROM quarantine").fetchone()
        return int(raw), int(entries), int(attempts)

    def close(self) -> None:
        try:
            self.run(self.client.aclose())
            self.run(self.app.store.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            logging.getLogger().removeHandler(self.capture)
            self.access.setLevel(self._level)
