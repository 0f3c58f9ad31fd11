"""Schemathesis against the served OpenAPI document (issue 11, "make it stay fixed").

Every operation of the query API is driven in-process (ASGI) with generated requests, valid and
invalid, and every Schemathesis check runs on each answer: no 500, only documented status codes,
bodies matching the declared schemas, invalid data refused, valid data accepted. The app has a real
temporary SQLite store holding events, a quarantined request and a subscription, so the mutating
endpoints (replay, prune, quarantine dismiss/reprocess, subscriber erase, subscriptions) meet real rows.

Bounded and seeded: a few examples per operation, derandomized, so CI stays fast and repeatable.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python import asgi

from smshook.app import SmshookApp
from smshook.settings import Settings, load_settings
from smshook.web.hooks import Receive, Scope, Send

TOKEN = "a-long-enough-api-token-for-schemathesis"
AUTH = {"authorization": f"Bearer {TOKEN}"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
MAX_EXAMPLES = 6  # per operation: the whole module runs in well under a minute


def _settings(database: str) -> Settings:
    return load_settings(
        api_token=TOKEN, database=database, forwarding=False,  # no delivery leaves the process
        retention={"events": "30d", "raw_requests": "7d"},
        subscriptions={"crm": {"url": "https://crm.example.com/sms", "filters": {"types": ["inbound"]}}},
    )


class Served:
    """The ASGI app the cases are sent to. Schemathesis binds its transport when the module is imported
    and the real app (with its temporary store) is made by the module fixture, so importing opens
    nothing. Schemathesis also ends an ASGI app's lifespan after every test; the app's own lifespan
    (store opened, config subscriptions written) runs once, until :meth:`stop`, in the loop the
    requests are served on."""

    def __init__(self) -> None:
        self.app: SmshookApp | None = None
        self._inner: asyncio.Queue[dict[str, Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the `served` fixture starts the app"
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._inner is None:
                    await self._start(self.app)
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self, app: SmshookApp) -> None:
        inner: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._inner, self._loop = inner, asyncio.get_running_loop()

        async def run() -> None:
            try:
                await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inner.get, answers.put)
            finally:
                self._stopped.set()

        self._task = asyncio.ensure_future(run())
        await inner.put({"type": "lifespan.startup"})
        started = await answers.get()
        assert started["type"] == "lifespan.startup.complete", started

    def stop(self) -> None:
        if self._inner is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._inner.put_nowait, {"type": "lifespan.shutdown"})
            assert self._stopped.wait(30), "the app did not shut down"
        self.app, self._inner, self._loop = None, None, None
        self._stopped.clear()


# text_regex is "format": "re2" (RE2 syntax, which no JSON Schema keyword can state): expressions RE2 compiles.
schemathesis.openapi.format("re2", st.from_regex(r"\A[A-Za-z0-9 ]{0,40}\Z") | st.sampled_from(
    [r"^stop\b", r"unsubscribe|cancel", r"\d{4,}", r"(?i)opt[- ]?out", "[[:alpha:]]+"]))
SERVED = Served()
# The schema is the app's own OpenAPI document (test_the_schema_is_the_served_one: the one it serves
# at /openapi.json), loaded as schemathesis.openapi.from_asgi("/openapi.json", app) would.
schema = schemathesis.openapi.from_dict(SmshookApp(_settings("sqlite:///unused.db")).api.openapi())
schema.app = SERVED
schema.config.update(base_url=f"http://{asgi.HOST}")


@schema.auth.auth()
class BearerToken:
    """The API token, set as schemathesis' own auth so its checks can also send requests without it."""

    def get(self, case: Any, context: Any) -> str:
        return TOKEN

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _seed(client: asgi.ASGIClient) -> None:
    """Rows for every kind of endpoint to meet: events (inbound and receipts), a quarantined request."""
    for body in (b"SendTo=447700900100&ReplyTo=%2B447700900123&Message=STOP",
                 b"Username=NULL&PIN=NULL&SendTo=447700900123&MessageIdentifier=m1&Report=0",
                 b"Username=NULL&PIN=NULL&SendTo=447700900123&MessageIdentifier=m2&Report=-4"):
        assert client.post("/hooks/csoft", data=body, headers=FORM).status_code == 200
    broken = client.post("/hooks/csoft", data=b"Username=NULL&PIN=NULL&MessageIdentifier=q&Report=OK", headers=FORM)
    assert broken.status_code == 400, broken.text
    made = client.post("/v1/subscriptions", headers=AUTH,
                       json={"id": "ops", "url": "https://ops.example.com/hook", "filters": {"types": ["status"]}})
    assert made.status_code == 201, made.text


@pytest.fixture(scope="module", autouse=True)
def served() -> Iterator[SmshookApp]:
    """The app under test, with a temporary SQLite store, started (lifespan) and seeded; stopped after."""
    directory = Path(tempfile.mkdtemp(prefix="smshook-schemathesis-"))
    app = SmshookApp(_settings(f"sqlite:///{directory / 'smshook.db'}"))
    SERVED.app = app
    try:
        with asgi.get_client(SERVED) as client:
            _seed(client)
        yield app
    finally:
        asgi.shutdown_lifespans()
        SERVED.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_the_schema_is_the_served_one(served: SmshookApp) -> None:
    with asgi.get_client(SERVED) as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == served.api.openapi()
    security = answer.json()["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in security.values())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms(case: Any) -> None:
    # The live stream never ends by itself: what it sent in half a second is checked.
    case.call_and_validate(timeout=0.5 if case.operation.path == "/v1/stream" else 30)
