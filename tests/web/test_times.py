"""`since` and `until` are exact to the millisecond on both storage backends (issue 12).

Stored times are fixed-width (:func:`smshook.events.stamp`); before, a time without milliseconds was
stored as ``…12:00:00Z`` and compared as text with ``…12:00:00.123Z`` the wrong way round, so
``GET /v1/events?since=2026-12-03T12:00:00Z`` dropped an event received at 12:00:00.123. Here events,
quarantine entries and rejected requests are received at 12:00:00.123 (and at 12:00:00.000, whose
public form stays ``…12:00:00Z``) and listed through the API; replay selects by the same bounds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from smshook import rejected
from smshook.app import SmshookApp
from smshook.cli import main
from smshook.events import Event, finalize, stamp, uuid7
from smshook.forwarding.model import Outcome, Subscription
from smshook.providers.base import RawRequest
from smshook.settings import load_settings
from smshook.storage import RawRecord, Store, make_store
from tests.storage.conftest import BACKENDS, new_store
from tests.web.conftest import app_client

pytestmark = pytest.mark.usefixtures("clean_env")

AT = datetime(2026, 12, 3, 12, 0, 0, 123000, tzinfo=UTC)  # received at 12:00:00.123
WHOLE = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)  # received at 12:00:00.000
SECOND = "2026-12-03T12:00:00Z"


def request_at(when: datetime, body: bytes = b"x") -> RawRecord:
    return RawRecord(uuid7(), "csoft", "csoft", "POST", "/hooks/csoft", "", (("content-type", "text/plain"),),
                     body, "127.0.0.1", stamp(when) or "")


def event_at(when: datetime, message_id: str) -> Event:
    event = Event(type="status", message_id=message_id, status="delivered", provider_status="0",
                  occurred_at=WHOLE)
    return finalize([event], "csoft", "csoft", when)[0]


async def receive(store: Store, when: datetime, message_id: str) -> str:
    event = event_at(when, message_id)
    await store.append(request_at(when, message_id.encode()), [event])
    return event.id


@pytest.fixture(params=BACKENDS)
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Store]]:
    application = SmshookApp(load_settings(), new_store(request.param, request, tmp_path))
    async with app_client(application) as client:
        yield client, application.store


async def ids(client: httpx.AsyncClient, path: str, **params: str) -> list[str]:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()["data"]]


async def test_events_since_and_until_are_exact_to_the_millisecond(
        app: tuple[httpx.AsyncClient, Store]) -> None:
    client, store = app
    late = await receive(store, AT, "m-late")
    whole = await receive(store, WHOLE, "m-whole")
    assert set(await ids(client, "/v1/events", since=SECOND)) == {late, whole}
    assert await ids(client, "/v1/events", until=SECOND) == []
    assert await ids(client, "/v1/events", since="2026-12-03T12:00:00.123Z") == [late]
    assert await ids(client, "/v1/events", since="2026-12-03T12:00:00.124Z") == []
    assert await ids(client, "/v1/events", until="2026-12-03T12:00:00.123Z") == [whole]
    assert set(await ids(client, "/v1/events", until="2026-12-03T12:00:00.124Z")) == {late, whole}
    # other spellings of the same instant select the same (a zone, no zone, microseconds)
    assert set(await ids(client, "/v1/events", since="2026-12-03T13:00:00+01:00")) == {late, whole}
    assert await ids(client, "/v1/events", since="2026-12-03T12:00:00.123999") == [late]
    # the public form is unchanged: milliseconds only when there are any
    shown = {e["id"]: e for e in (await client.get("/v1/events")).json()["data"]}
    assert shown[late]["received_at"] == "2026-12-03T12:00:00.123Z"
    assert shown[whole]["received_at"] == SECOND and shown[whole]["occurred_at"] == SECOND
    exported = (await client.get("/v1/export/events", params={"since": SECOND, "format": "ndjson"})).text
    assert late in exported and whole in exported
    exported = (await client.get("/v1/export/events", params={"until": SECOND, "format": "ndjson"})).text
    assert late not in exported and whole not in exported


async def test_quarantine_since_and_until_are_exact(app: tuple[httpx.AsyncClient, Store]) -> None:
    client, store = app
    entry = await store.quarantine(request_at(AT, b"unreadable"), "could not parse", 400)
    assert await ids(client, "/v1/quarantine", since=SECOND) == [entry]
    assert await ids(client, "/v1/quarantine", until=SECOND) == []
    assert await ids(client, "/v1/quarantine", since="2026-12-03T12:00:00.124Z") == []
    [row] = (await client.get("/v1/quarantine")).json()["data"]
    assert row["first_seen"] == "2026-12-03T12:00:00.123Z"


async def test_rejected_since_and_until_are_exact(app: tuple[httpx.AsyncClient, Store]) -> None:
    client, store = app
    request = RawRequest("POST", "/hooks/csoft", b"", (("content-type", "text/plain"),), b"x", "203.0.113.9",
                         "https://sms.example.com/hooks/csoft")
    entry = await store.record_rejected(rejected.record("csoft", "csoft", request, "signature", "bad signature", 403,
                                                        stamp(AT) or "", "/hooks/csoft"))
    assert await ids(client, "/v1/rejected", since=SECOND) == [entry]
    assert await ids(client, "/v1/rejected", until=SECOND) == []
    assert await ids(client, "/v1/rejected", until="2026-12-03T12:00:00.124Z") == [entry]


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_replay_and_events_since_and_until_are_exact(backend: str, request: pytest.FixtureRequest,
                                                         tmp_path: Path) -> None:
    """smshook replay and smshook events (the --since/--until of every command) on each backend."""
    url = request.getfixturevalue("postgres_database") if backend == "postgresql" else f"sqlite:///{tmp_path / 'r.db'}"

    async def seed() -> None:
        s = make_store(url)
        await s.open()
        try:
            await s.put_subscription(Subscription(id="crm", kind="webhook", target="https://x/", secrets=(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",)))
            await receive(s, AT, "m1")
            [claimed] = await s.claim_deliveries("a", 1e12, 10, 10)
            await s.record_attempt(claimed.id, "a", Outcome("dead", 1e9, error="HTTP 500", http_status=500))
        finally:
            await s.close()

    asyncio.run(seed())
    runner = CliRunner()

    def replay(*args: str) -> Any:
        result = runner.invoke(main, ["replay", "--database", url, "--subscription", "crm", "--state", "dead", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "replayed 0 deliveries" in replay("--until", SECOND)
    assert "replayed 0 deliveries" in replay("--since", "2026-12-03T12:00:00.124Z")
    assert "replayed 1 deliveries" in replay("--since", SECOND)

    def listed(*args: str) -> list[str]:
        result = runner.invoke(main, ["events", "--database", url, "--json", *args])
        assert result.exit_code == 0, result.output
        return [line for line in result.stdout.splitlines() if line.strip()]

    assert len(listed("--since", SECOND)) == 1 and listed("--until", SECOND) == []
    assert listed("--since", "2026-12-03T12:00:00.124Z") == []
    assert len(listed("--until", "2026-12-03T12:00:00.124")) == 1  # no zone: UTC
