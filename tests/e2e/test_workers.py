"""`serve --workers N`: several processes on one port and one SQLite file, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook.app import WORKER_SETTINGS, settings_json, worker_app
from smshook.settings import load_settings
from tests.e2e.conftest import Server
from tests.forwarding.conftest import SECRET, Receiver, receiver  # noqa: F401  (fixture)

RECEIPT = ("Username=NULL&PIN=NULL&SendTo=447700912345&Timestamp1=2005-07-26T14:11:00Z"
           "&MessageIdentifier=W{:05d}&Report=0")


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def written(pid: int) -> int:
    """Bytes the process has written through system calls so far (its SQLite commits among them)."""
    return next(int(line.split()[1]) for line in Path(f"/proc/{pid}/io").read_text().splitlines()
                if line.startswith("wchar:"))


def start_workers(server: Server, workers: int, timeout: float = 30) -> list[int]:
    """Start the server and wait until every worker process has finished its start-up."""
    server.start()
    assert server.process is not None
    deadline = time.monotonic() + timeout
    while server.output().count("Application startup complete") < workers:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    pids = children(server.process.pid)
    assert len(pids) >= workers, pids  # the worker processes (and uvicorn's helper, if any)
    return pids


def test_worker_settings_round_trip(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        api_token="an-api-token-of-some-length", workers=3, trusted_proxies="10.0.0.0/8,::1",
        connections={"uk": {"provider": "csoft", "token": "a-long-url-token-1234", "username": "u",
                            "pin": "1234567890123456", "allow_ips": ["203.0.113.0/24"]}},
        subscriptions={"crm": {"url": "https://crm.example.com/sms", "secret": SECRET,
                               "filters": {"keywords": ["STOP"]}}},
    )
    monkeypatch.setenv(WORKER_SETTINGS, settings_json(settings))
    rebuilt = worker_app().settings
    assert rebuilt == settings  # secrets (compared by value) and networks included
    assert rebuilt.connections["uk"].pin is not None
    assert rebuilt.connections["uk"].pin.get_secret_value() == "1234567890123456"
    assert "a-long-url-token-1234" in os.environ[WORKER_SETTINGS]  # revealed for the worker, not masked


def test_workers_share_one_sqlite_file(server_factory: type[Server], receiver: Receiver) -> None:  # noqa: F811
    """Two workers on one WAL file: concurrent posts (every one twice, at the same moment, on new
    connections so both workers get them) are acknowledged, stored exactly once, and forwarded exactly
    once to a subscription created through one worker's API after start."""
    server = server_factory(args=["--workers", "2"])
    workers = start_workers(server, 2)
    created = httpx.post(f"{server.url}/v1/subscriptions", json={"url": f"{receiver.url}/ok", "secret": SECRET})
    assert created.status_code == 201, created.text
    before = {pid: written(pid) for pid in workers}

    unique = 400
    bodies = [RECEIPT.format(i) for i in range(unique)] * 2
    random.Random(5).shuffle(bodies)

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each time: both workers accept
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            gate = asyncio.Semaphore(32)

            async def post(body: str) -> httpx.Response:
                async with gate:
                    return await client.post("/hooks/csoft", content=body)

            return await asyncio.gather(*(post(b) for b in bodies))

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [200] * len(bodies), {r.status_code: r.text for r in responses}
    for body, response in zip(bodies, responses, strict=True):
        ident = body.split("MessageIdentifier=")[1].split("&")[0]
        assert response.text.startswith(f"MessageIdentifier={ident}&Report=0")
    grew = [pid for pid in workers if written(pid) - before[pid] > 100_000]
    assert len(grew) >= 2, "both workers should have committed requests"

    with sqlite3.connect(server.database) as db:
        per_message = dict(db.execute("SELECT message_id, count(*) FROM events GROUP BY message_id").fetchall())
        raw = db.execute("SELECT count(*), sum(new_events), sum(duplicates) FROM raw_requests").fetchone()
        deliveries = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    assert per_message == {f"W{i:05d}": 1 for i in range(unique)}
    assert raw == (2 * unique, unique, unique)  # every request kept; each event once, each retry counted
    assert deliveries == unique  # queued by both workers, for the subscription only one of them created

    rows = receiver.wait_for(lambda rows: len({r["headers"]["webhook-id"] for r in rows}) >= unique, timeout=60)
    time.sleep(1.5)  # three poll intervals: a double delivery would show up now
    rows = receiver.requests()
    ids = [r["headers"]["webhook-id"] for r in rows]
    assert len(ids) == len(set(ids)) == unique  # each delivery claimed by one worker, sent once
    assert {json.loads(r["body"])["data"]["message_id"] for r in rows} == set(per_message)
    deadline = time.monotonic() + 10  # the attempts are recorded just after the receiver answered
    while (stats := httpx.get(f"{server.url}/v1/subscriptions/{created.json()['id']}").json()["stats"])[
            "delivered"] < unique and time.monotonic() < deadline:
        time.sleep(0.1)
    counts = (stats["delivered"], stats["backlog"], stats["successes"], stats["failures"])
    assert counts == (unique, 0, unique, 0), stats["last_error"]


def test_serve_workers_hands_uvicorn_the_factory(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --workers 2` prepares the store once, then asks uvicorn for two processes of the factory."""
    import uvicorn
    from click.testing import CliRunner

    from smshook import app, cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(app, "prepare_store", lambda settings: seen.update(prepared=settings.database))
    monkeypatch.setattr(uvicorn, "run", lambda target, **kwargs: seen.update(target=target, **kwargs))
    monkeypatch.setenv(WORKER_SETTINGS, "")  # serve sets it; restored (removed) after the test
    result = CliRunner().invoke(cli.main, ["serve", "--workers", "2", "--trusted-proxies", "127.0.0.1"])
    assert result.exit_code == 0, result.output
    assert "(2 worker processes)" in result.output
    assert seen["prepared"] == "sqlite:///smshook.db"
    assert (seen["target"], seen["factory"], seen["workers"], seen["proxy_headers"]) == (
        "smshook.app:worker_app", True, 2, False)
    rebuilt = worker_app().settings  # what each worker will run with
    assert rebuilt.workers == 2 and [str(n) for n in rebuilt.trusted_proxies] == ["127.0.0.1/32"]
