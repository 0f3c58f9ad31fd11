"""Several stores (instances) on one database at the same moment: the database arbitrates dedup,
status projection, feed positions and delivery claims. Runs on every backend: on SQLite the
"instances" are separate processes' stores on one file, on PostgreSQL separate connection pools."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from smshook.forwarding.model import Outcome, Subscription
from smshook.storage import EventQuery, Store
from tests.forwarding.conftest import SECRET
from tests.storage.conftest import same_database
from tests.storage.test_store import inbound, raw, status

INSTANCES = 3


@pytest.fixture
async def others(store: Store) -> AsyncIterator[list[Store]]:
    stores = [same_database(store) for _ in range(INSTANCES - 1)]
    for s in stores:
        await s.open()
    try:
        yield stores
    finally:
        for s in stores:
            await s.close()


async def test_the_same_callback_at_every_instance_at_once_is_stored_once(store: Store, others: list[Store]) -> None:
    instances = [store, *others]
    rounds = 20
    calls = [s.append(raw(), [status(f"m{i}", "delivered", 1), status(f"m{i}", "sent", 0)])
             for i in range(rounds) for s in instances]
    results = await asyncio.gather(*calls)
    assert all(len(r.new) == 2 for r in results)  # every instance answered (the losers: duplicates)
    for i in range(rounds):
        mine = results[i * INSTANCES:(i + 1) * INSTANCES]
        assert sum(r.new[0] for r in mine) == 1 and sum(r.new[1] for r in mine) == 1
    assert len(await store.events(EventQuery(limit=1000))) == 2 * rounds
    for i in range(rounds):
        message = await others[0].message("csoft", f"m{i}")
        assert message is not None and message["status"] == "delivered" and not message["conflict"]


async def test_status_projection_is_serialised_across_instances(store: Store, others: list[Store]) -> None:
    instances = [store, *others]
    states = ["pending", "sent", "delivered", "read"]
    await asyncio.gather(*(instances[i % INSTANCES].append(raw(), [status("m1", state, i)])
                           for i, state in enumerate(states)))
    message = await store.message("csoft", "m1")
    assert message is not None and message["status"] == "read" and len(message["events"]) == 4


async def test_feed_positions_grow_in_commit_order_across_instances(store: Store, others: list[Store]) -> None:
    start = await store.feed_position()
    await asyncio.gather(*(s.append(raw(), [status(f"f{i}-{n}", "sent")]) for n, s in enumerate([store, *others])
                           for i in range(30)))
    feed = await others[-1].feed(start, limit=1000)
    positions = [p for p, _ in feed]
    assert len(feed) == 30 * INSTANCES and positions == sorted(positions) and len(set(positions)) == len(positions)
    assert await store.feed_position() == positions[-1]


async def test_each_delivery_is_claimed_by_one_instance_at_a_time(store: Store, others: list[Store]) -> None:
    await store.put_subscription(Subscription(id="s", kind="webhook", target="http://127.0.0.1:9/s",
                                              secrets=(SECRET,)))
    await others[0].append(raw(), [status(f"c{i}", "sent") for i in range(40)])
    now = time.time()
    instances = [store, *others]
    claims = await asyncio.gather(*(s.claim_deliveries(f"owner{n}", now, 30, 15)
                                    for n, s in enumerate(instances) for _ in range(2)))
    ids = [c.id for batch in claims for c in batch]
    assert len(ids) == len(set(ids)) == 40  # all claimed, none twice
    # An instance killed mid-delivery: once its lease expires, another one takes the work over.
    lost = next(c for batch in claims for c in batch)
    taken = await others[-1].claim_deliveries("survivor", now + 31, 30, 100)
    assert {c.id for c in taken} == set(ids)
    assert not await store.record_attempt(lost.id, lost.lease_owner, Outcome("pending", now + 32, now + 40, "late"))
    assert await others[-1].record_attempt(lost.id, "survivor", Outcome("delivered", now + 32, http_status=200))


async def test_postgresql_going_away_fails_writes_cleanly_and_the_store_recovers() -> None:
    """A database that cannot commit makes writes fail (the provider retries); once it is back, the
    pool reconnects and nothing acknowledged was lost. Its own cluster: the shared one stays up."""
    import os

    from smshook.errors import StoreError
    from smshook.storage.postgres import PostgresStore
    from tests.e2e.conftest import free_port
    from tests.pgcluster import start_cluster

    if os.environ.get("SMSHOOK_TEST_PG") == "skip":
        pytest.skip("SMSHOOK_TEST_PG=skip")
    cluster = await asyncio.to_thread(start_cluster, free_port())
    try:
        store = PostgresStore(cluster.url)
        await store.open()
        try:
            assert (await store.append(raw(), [status("m1", "sent")])).new == (True,)
            await asyncio.to_thread(cluster.halt)
            with pytest.raises(StoreError):
                await store.append(raw(), [status("m1", "delivered", 1)])
            assert not await store.ping()
            await asyncio.to_thread(cluster.resume)
            assert await store.ping()
            assert (await store.append(raw(), [status("m1", "delivered", 1)])).new == (True,)
            message = await store.message("csoft", "m1")
            assert message is not None and message["status"] == "delivered" and len(message["events"]) == 2
        finally:
            await store.close()
    finally:
        await asyncio.to_thread(cluster.stop)


async def test_the_same_inbound_messages_in_opposite_orders_at_two_instances(store: Store, others: list[Store]) -> None:
    """Inbound events have no message to lock: their keys must still be taken in one order everywhere,
    or two instances inserting the same ones in opposite orders wait for each other (a deadlock)."""
    rounds, size = 24, 40
    calls = []
    for r in range(rounds):
        batch = [inbound(f"HELLO {r}-{i}") for i in range(size)]
        calls += [store.append(raw(), batch), others[0].append(raw(), batch[::-1])]
    results = await asyncio.gather(*calls)
    assert all(len(r.new) == size for r in results)  # every call answered, none failed
    for r in range(rounds):
        first, second = results[2 * r].new, results[2 * r + 1].new[::-1]
        assert all(a != b for a, b in zip(first, second, strict=True))  # each event stored by exactly one
    assert len(await store.events(EventQuery(limit=1000))) == rounds * size
