"""The dispatcher alone: how fast a queued backlog drains to a no-op receiver on loopback.

    .venv/bin/python bench/drain.py [--events 10000] [--database URL] [--instances 2] [--profile out.prof]

Starts the no-op receiver ([`noop.py`](noop.py), uvicorn + uvloop + httptools, in its own process),
opens a fresh store (SQLite in a temporary directory, or ``--database postgresql://…``), adds one
webhook subscription for every event pointing at the receiver, appends ``--events`` single status
events (100 per request, as BulkGate does) with no dispatcher running, then starts ``--instances``
dispatchers (this process and ``--instances`` - 1 more processes, each with its own store) and times
them until every delivery is ``delivered``. Prints one JSON line: events, seconds, events/s (= webhooks/s,
unless ``--batch-max``), attempts recorded and the first process's CPU seconds.
``--profile FILE`` runs the drain under cProfile (slower: use it for shares, not rates). ``--pg`` starts a
throwaway PostgreSQL cluster (PostgreSQL's durability defaults) for the run. ``attempts_recorded`` is the
subscription's success counter: a delivery sent by two instances would count twice.
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


def config(args: argparse.Namespace) -> DispatchConfig:
    return DispatchConfig(concurrency=args.concurrency, allow_private_targets=True)  # the receiver is on loopback


async def until_drained(store: Store) -> None:
    # next_due: the earliest pending or in-flight delivery, None once all are done (an index look-up;
    # the subscription stats count every delivery, which slowed the drain it measures as it grew).
    while await store.next_due() is not None:  # noqa: ASYNC110 (polling the store is the point)
        await asyncio.sleep(0.1)


async def follow(args: argparse.Namespace) -> None:
    """Another instance (``--instances``): a process with its own store and dispatcher on the same
    database, started when the coordinating process writes a line to its standard input."""
    store = open_store(args.database, Path(args.follow))
    await store.open()
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        dispatcher = Dispatcher(store, config(args))
        dispatcher.start()
        await until_drained(store)
        await dispatcher.stop()
    finally:
        await store.close()


async def drain(args: argparse.Namespace) -> dict[str, Any]:
    receiver, url = start_noop()
    directory = Path(tempfile.mkdtemp(prefix="smshook-drain-"))
    store = open_store(args.database, directory)
    others: list[subprocess.Popen[str]] = []
    try:
        await store.open()
        extra: dict[str, Any] = {}
        if args.batch_max > 1:  # (so that the script also runs on code from before batch mode)
            extra = {"batch_max": args.batch_max, "batch_wait": args.batch_wait}
        await store.put_subscription(Subscription(id="drain", kind="webhook", target=url, secrets=(SECRET,), **extra))
        fill_s = await fill(store, args.events)
        for _ in range(args.instances - 1):  # the other instances: processes of their own
            argv = [sys.executable, __file__, "--follow", str(directory), "--concurrency", str(args.concurrency)]
            if args.database:
                argv += ["--database", args.database]
            other = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: ASYNC220
            assert other.stdout is not None and other.stdout.readline().strip() == "ready"
            others.append(other)
        dispatcher = Dispatcher(store, config(args))
        cpu0 = time.process_time()
        started = time.perf_counter()
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()
        for other in others:
            assert other.stdin is not None
            other.stdin.write("go\n")
            other.stdin.flush()
        dispatcher.start()
        await until_drained(store)
        seconds = time.perf_counter() - started
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        cpu = time.process_time() - cpu0
        await dispatcher.stop()
        for other in others:
            other.wait(60)
        _, successes = await backlog(store)
        failures = (await store.subscription_stats())["drain"]["failures"]
        return {"events": args.events, "instances": args.instances, "fill_seconds": round(fill_s, 3),
                "seconds": round(seconds, 3), "events_per_s": round(args.events / seconds, 1),
                "attempts_recorded": successes, "failures": failures, "cpu_seconds_first_instance": round(cpu, 3),
                "backend": "postgresql" if isinstance(store, PostgresStore) else "sqlite",
                "batch_max": args.batch_max}
    finally:
        for other in others:
            if other.poll() is None:
                other.kill()
                other.wait(10)
        await store.close()
        receiver.terminate()
        receiver.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database", default=None, help="postgresql://… (default: SQLite in a temp dir)")
    parser.add_argument("--pg", action="store_true",
                        help="a throwaway PostgreSQL cluster (tests/pgcluster.py, PostgreSQL's durability defaults)")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch-max", type=int, default=1)
    parser.add_argument("--batch-wait", type=float, default=0.0)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--follow", default=None, help=argparse.SUPPRESS)  # internal: another instance
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.follow:
        asyncio.run(follow(args))
        return
    if not args.pg:
        print(json.dumps(asyncio.run(drain(args))), flush=True)
        return
    sys.path.insert(0, str(HERE.parent))
    from tests import pgcluster

    pgcluster.SERVER_OPTIONS = "-c max_connections=300 -c shared_buffers=128MB"  # fsync on, as in production
    cluster = pgcluster.start_cluster(free_port())
    try:
        args.database = cluster.create_database("drain")
        print(json.dumps(asyncio.run(drain(args))), flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
