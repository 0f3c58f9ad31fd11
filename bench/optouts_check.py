"""Latency of ``GET /v1/optouts/check`` on a table of 100,000 opt-outs (issue 15: fast enough to call
before every send). Fills a fresh database with opt-out events (plus opt-ins and unrelated inbound
traffic), then times the check through the API in process (FastAPI and JSON included, no network) and
the store look-up alone, and prints the query plan.

    .venv/bin/python bench/optouts_check.py                 # SQLite in a temporary directory
    .venv/bin/python bench/optouts_check.py --postgres      # a throwaway PostgreSQL cluster (tests/pgcluster.py)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smshook.app import SmshookApp
from smshook.events import Event, finalize, iso, uuid7
from smshook.lifecycle import store as ls
from smshook.settings import load_settings
from smshook.storage import RawRecord, make_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def fill(url: str, count: int) -> None:
    store = make_store(url)
    await store.open()
    try:
        rng = random.Random(15)
        for start in range(0, count, 1000):
            events = []
            for i in range(start, min(count, start + 1000)):
                when = T0 + timedelta(seconds=i)
                stop = Event(type="optout", from_=f"44{7_000_000_000 + i}", to=rng.choice(["12345", "ACME", None]),
                             keyword="STOP", text="STOP", occurred_at=when, details={"source": "keyword"})
                noise = Event(type="inbound", from_=stop.from_, to="12345", text="hello", occurred_at=when)
                events += [stop, noise]
                if i % 10 == 0:  # one in ten opted back in later
                    events.append(Event(type="optin", from_=stop.from_, to=stop.to, keyword="START", text="START",
                                        occurred_at=when + timedelta(hours=1), details={"source": "keyword"}))
            finalize(events, "csoft", "csoft", datetime.now(UTC))
            now = iso(datetime.now(UTC)) or ""
            now = iso(datetime.now(UTC)) or ""
            raw = RawRecord(uuid7(), "csoft", "csoft", "POST", "/bench", "", (), b"", None, now)
            await store.append(raw, events)
    finally:
        await store.close()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def measure(url: str, count: int, calls: int) -> None:
    app = SmshookApp(load_settings(database=url))
    await app.store.open()
    try:
        rng = random.Random(7)
        phones = [f"+44{7_000_000_000 + rng.randrange(count * 2)}" for _ in range(calls)]  # half are never opted out
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
            for phone in phones[:50]:  # warm up
                await client.get("/v1/optouts/check", params={"phone": phone, "sender": "12345"})
            api, direct, out = [], [], 0
            for phone in phones:
                started = time.perf_counter()
                answer = await client.get("/v1/optouts/check", params={"phone": phone, "sender": "12345"})
                api.append((time.perf_counter() - started) * 1000)
                out += answer.json()["opted_out"]
            for phone in phones:
                started = time.perf_counter()
                await ls.check(app.store, phone.lstrip("+"), "12345")
                direct.append((time.perf_counter() - started) * 1000)
        print(f"{calls} checks, {out} opted out: API p50 {statistics.median(api):.2f} ms, p99 {pct(api, 0.99):.2f} ms;"
              f" store look-up p50 {statistics.median(direct):.2f} ms, p99 {pct(direct, 0.99):.2f} ms")
        if url.startswith("sqlite"):
            plan = await app.store._read(lambda c: c.execute(  # type: ignore[attr-defined]
                f"EXPLAIN QUERY PLAN SELECT {ls.CHANGE_COLUMNS} FROM events INDEXED BY events_optouts "
                "WHERE type IN ('optout', 'optin') "
                "AND sender = ? ORDER BY id", ("447000000001",)).fetchall())
            print("plan:", "; ".join(str(r[-1]) for r in plan))
        else:
            plan = await app.store._read(lambda c: c.fetch(  # type: ignore[attr-defined]
                f"EXPLAIN SELECT {ls.CHANGE_COLUMNS} FROM events WHERE type IN ('optout', 'optin') "
                "AND sender = $1 ORDER BY id", "447000000001"))
            print("plan:", "; ".join(r[0].strip() for r in plan))
    finally:
        await app.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--count", type=int, default=100_000, help="opt-outs to store")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = None
        if args.postgres:
            from tests.e2e.conftest import free_port
            from tests.pgcluster import start_cluster

            cluster = start_cluster(free_port())
            url = cluster.create_database("bench")
        else:
            url = f"sqlite:///{tmp}/optouts.db"
        try:
            started = time.perf_counter()
            asyncio.run(fill(url, args.count))
            print(f"{'postgresql' if cluster else 'sqlite'}: {args.count} opt-outs (+{args.count} inbound, "
                  f"+{args.count // 10} opt-ins) stored in {time.perf_counter() - started:.1f} s")
            asyncio.run(measure(url, args.count, args.calls))
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
