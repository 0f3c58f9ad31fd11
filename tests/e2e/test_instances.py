"""Many instances: two `smshook serve` processes on one PostgreSQL, the same callbacks sent to both at
the same moment, one killed with SIGKILL while it has posts and deliveries in flight.

Then: every acknowledged event is stored, none twice, and every subscription delivery is done (at
least once, with its stable webhook-id) — the killed instance's in-flight deliveries by the survivor,
once their lease ran out, and never by two instances at the same time."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from pathlib import Path

import asyncpg
import httpx

from tests.e2e.conftest import Server
from tests.forwarding.conftest import SECRET, Receiver, receiver  # noqa: F401  (fixture)

RECEIPT = ("Username=NULL&PIN=NULL&SendTo=447700912345&Timestamp1=2005-07-26T14:11:00Z"
           "&MessageIdentifier=I{:04d}&Report=0")
UNIQUE = 80
SLOW = 2.5  # the receiver holds each delivery's first attempt this long: deliveries are in flight
LEASE = 5.0


def config(path: Path, receiver_url: str) -> Path:
    path.write_text(f"""
forwarding_lease = {LEASE}
forwarding_timeout = 4
forwarding_concurrency = 32
forwarding_poll_interval = 0.2
forwarding_schedule = [0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1]

[subscriptions.crm]
url = "{receiver_url}/slow/{SLOW}/1"
secret = "{SECRET}"
""")
    return path


async def send_and_kill(first: Server, second: Server, database: str) -> dict[str, list[int]]:
    """Post every receipt to both instances at once; kill ``first`` half-way, once both instances
    have deliveries in flight. Returns, per message id, the instances that acknowledged it."""
    acknowledged: dict[str, list[int]] = defaultdict(list)
    sent = 0
    db = await asyncpg.connect(database)

    async def post(client: httpx.AsyncClient, server: Server, ident: str) -> None:
        try:
            response = await client.post(f"{server.url}/hooks/csoft", content=RECEIPT.format(int(ident[1:])))
        except httpx.HTTPError:
            return  # the killed instance: not acknowledged
        if response.status_code == 200 and response.text.startswith(f"MessageIdentifier={ident}&Report=0"):
            acknowledged[ident].append(server.port)

    async def kill_half_way() -> None:
        while True:
            owners = await db.fetchval(
                "SELECT count(DISTINCT lease_owner) FROM deliveries WHERE state = 'delivering'")
            if sent >= UNIQUE // 2 and owners >= 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.to_thread(first.kill)

    try:
        async with httpx.AsyncClient(timeout=30) as client:
            killer = asyncio.create_task(kill_half_way())
            posts = []
            for i in range(UNIQUE):
                ident = f"I{i:04d}"
                posts += [asyncio.create_task(post(client, first, ident)),
                          asyncio.create_task(post(client, second, ident))]
                sent += 1
                await asyncio.sleep(0.03 if not killer.done() else 0)
            await asyncio.gather(*posts)
            await asyncio.wait_for(killer, 30)
    finally:
        await db.close()
    return acknowledged


def test_two_instances_one_killed(server_factory: type[Server], receiver: Receiver,  # noqa: F811
                                  postgres_database: str, tmp_path: Path) -> None:
    settings = config(tmp_path / "smshook.toml", receiver.url)
    first = server_factory(config=settings, database_url=postgres_database).start()
    second = server_factory(config=settings, database_url=postgres_database).start()

    acknowledged = asyncio.run(send_and_kill(first, second, postgres_database))
    assert first.process is not None and first.process.returncode == -9  # really SIGKILLed
    assert set(acknowledged) == {f"I{i:04d}" for i in range(UNIQUE)}  # the survivor acknowledged every one
    assert any(len(ports) == 2 for ports in acknowledged.values())  # both answered a duplicate as a success

    async def settle() -> tuple[list[asyncpg.Record], list[asyncpg.Record], int]:
        db = await asyncpg.connect(postgres_database)
        try:
            deadline = time.monotonic() + 90
            while await db.fetchval("SELECT count(*) FROM deliveries WHERE state != 'delivered'") > 0:
                assert time.monotonic() < deadline, await db.fetch("SELECT * FROM deliveries WHERE state != "
                                                                   "'delivered'")
                await asyncio.sleep(0.2)
            events = await db.fetch("SELECT id, message_id FROM events")
            deliveries = await db.fetch("SELECT id, event_id, state, subscription_id FROM deliveries")
            raw = await db.fetchval("SELECT count(*) FROM raw_requests")
            return events, deliveries, raw
        finally:
            await db.close()

    events, deliveries, raw = asyncio.run(settle())
    by_message = defaultdict(list)
    for event in events:
        by_message[event["message_id"]].append(event["id"])
    assert {m: len(ids) for m, ids in by_message.items()} == {m: 1 for m in acknowledged}  # none lost, none twice
    assert raw >= sum(len(ports) for ports in acknowledged.values())  # each acknowledged request kept, duplicates too
    assert len(deliveries) == UNIQUE and {d["subscription_id"] for d in deliveries} == {"crm"}
    webhook_ids = {d["id"]: d["event_id"] for d in deliveries}

    time.sleep(0.5)  # the receiver logs after it answered
    rows = receiver.requests()
    arrivals: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        webhook_id = row["headers"]["webhook-id"]
        assert json.loads(row["body"])["data"]["id"] == webhook_ids[webhook_id]  # stable id, same event
        arrivals[webhook_id].append(row["at"])
    assert set(arrivals) == set(webhook_ids)  # every delivery reached the receiver
    answered = {row["headers"]["webhook-id"] for row in rows if row["status"] == 200}
    assert answered == set(webhook_ids)
    again = {w: sorted(times) for w, times in arrivals.items() if len(times) > 1}
    assert again, "the killed instance had deliveries in flight: they must have been sent again"
    for times in again.values():  # sent again only after the lease ran out: never two instances at once
        assert all(later - earlier >= LEASE - 1 for earlier, later in itertools.pairwise(times)), times
