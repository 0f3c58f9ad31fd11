"""The dispatcher alone: how fast a queued backlog drains to a no-op receiver on loopback.

    .venv/bin/python bench/drain.py [--events 10000] [--database URL] [--instances 2] [--profile out.prof]

Starts the no-op receiver ([`noop.py`](noop.py), uvicorn + uvloop + httptools, in its own process),
opens a fresh store (SQLite in a temporary directory, or ``--database postgresql://…``), adds one
webhook subscription for every event pointing at the receiver, appends ``--events`` single status
events (100 per request, as BulkGate does) with no dispatcher running, then starts ``--instances``
dispatchers in this process (each its own store connection, as separate instances would have) and
times them until every delivery is ``delivered``. Prints one JSON line: events, seconds, webhooks/s,
attempts recorded (more than ``events`` would be a double send) and the process's CPU seconds.
``--profile FILE`` runs the drain under cProfile (slower: use it for shares, not rates).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from smshook.events import Event, finalize, iso, uuid7
from smshook.forwarding.dispatcher import DispatchConfig, Dispatcher
from smshook.forwarding.model import Subscription
from smshook.storage import Store
from smshook.storage.base import RawRecord
from smshook.storage.postgres import PostgresStore
from smshook.storage.sqlite import SQLiteStore

HERE = Path(__file__).resolve().parent
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_noop() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "noop.py"), "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(url, timeout=1)
            return proc, url + "/hook"
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the no-op receiver did not start")


def open_store(database: str | None, directory: Path) -> Store:
    if database and database.startswith("postgres"):
        return PostgresStore(database)
    return SQLiteStore(directory / "drain.db")


async def fill(store: Store, events: int, per_request: int = 100) -> float:
    started = time.perf_counter()
    made = 0
    while made < events:
        n = min(per_request, events - made)
        batch = [Event(type="status", message_id=f"m{made + i}", status="delivered", provider_status="1")
                 for i in range(n)]
        now = datetime.now(UTC)
        raw = RawRecord(uuid7(), "bulkgate", "bulkgate", "POST", "/hooks/bulkgate", "", (), b"[]", "127.0.0.1",
                        iso(now) or "")
        await store.append(raw, finalize(batch, "bulkgate", "bulkgate", now))
        made += n
    return time.perf_counter() - started


async def backlog(store: Store) -> tuple[int, int]:
    stats = (await store.subscription_stats()).get("drain", {})
    return int(stats.get("backlog", 0)) + int(stats.get("in_flight", 0)), int(stats.get("successes", 0))


async def drain(args: argparse.Namespace) -> dict[str, Any]:
    receiver, url = start_noop()
    directory = Path(tempfile.mkdtemp(prefix="smshook-drain-"))
    store = open_store(args.database, directory)
    others: list[Store] = []
    try:
        await store.open()
        extra: dict[str, Any] = {"batch_max": args.batch_max, "batch_wait": args.batch_wait}
        await store.put_subscription(Subscription(id="drain", kind="webhook", target=url, secrets=(SECRET,), **extra))
        fill_s = await fill(store, args.events)
        for _ in range(args.instances - 1):
            other = open_store(args.database, directory)
            await other.open()
            others.append(other)
        config = DispatchConfig(concurrency=args.concurrency) if args.concurrency else DispatchConfig()
        dispatchers = [Dispatcher(s, config) for s in (store, *others)]
        cpu0 = time.process_time()
        started = time.perf_counter()
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()
        for d in dispatchers:
            d.start()
        while True:
            left, _ = await backlog(store)
            if left == 0:
                break
            await asyncio.sleep(0.1)
        seconds = time.perf_counter() - started
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        cpu = time.process_time() - cpu0
        for d in dispatchers:
            await d.stop()
        _, successes = await backlog(store)
        failures = (await store.subscription_stats())["drain"]["failures"]
        return {"events": args.events, "instances": args.instances, "fill_seconds": round(fill_s, 3),
                "seconds": round(seconds, 3), "webhooks_per_s": round(args.events / seconds, 1),
                "attempts_recorded": successes, "failures": failures, "cpu_seconds": round(cpu, 3),
                "backend": "postgresql" if isinstance(store, PostgresStore) else "sqlite"}
    finally:
        for other in others:
            await other.close()
        await store.close()
        receiver.terminate()
        receiver.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database", default=None, help="postgresql://… (default: SQLite in a temp dir)")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=0)
    parser.add_argument("--batch-max", type=int, default=1)
    parser.add_argument("--batch-wait", type=float, default=0.0)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(drain(args))), flush=True)


if __name__ == "__main__":
    main()
