"""CPU per hook request on the event loop's thread, in-process: no HTTP server, no load generator.

    .venv/bin/python bench/hookpath.py                     # csoft and bulkgate, 20k csoft receipts
    .venv/bin/python bench/hookpath.py --workload csoft --requests 5000 --concurrency 64

Drives the whole ASGI app (:class:`smshook.app.SmshookApp`, as ``smshook serve`` builds it from the
default settings) with uvicorn's scope shape, a fake ``receive``/``send`` and a real SQLite store
(WAL, ``synchronous=FULL``, group commit) in a temporary directory, on uvloop. ``--concurrency``
tasks each send requests one after the other, like wrk's connections; the bodies are the
benchmark's own (``lua/csoft.lua``, ``lua/bulkgate.lua``), each with unique ids. Every answer is
checked (status 200, csoft's ``Report=0``) and the stored events counted afterwards.

Reported: CPU time of the event loop's thread (``RUSAGE_THREAD``: uvicorn's own HTTP work is not
in it, everything smshook does per request is) per request and per event, and the process's CPU
(adding the SQLite writer thread). CPU time, not wall time: on a shared machine it is what stays put
between runs (best of ``--repeat`` runs, each on a fresh store). For instruction counts, run it under
``valgrind --tool=callgrind --separate-threads=yes`` with fewer requests.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from smshook import logs
from smshook.app import SmshookApp
from smshook.settings import load_settings
from smshook.storage.sqlite import SQLiteStore


def csoft_body(task: int, n: int) -> bytes:
    return (b"Username=bench&PIN=NULL&SendTo=447700912345&Timestamp1=2024%%2D05%%2D01T12%%3A00%%3A00Z"
            b"&MessageIdentifier=C%dN%d&Report=0" % (task, n))


def bulkgate_body(task: int, n: int) -> bytes:
    minute = (n * 7 + task) % 1440
    date = b"240501%02d%02d;240501%02d%02d" % (minute // 60, minute % 60, minute // 60, minute % 60)
    items = (b'{"status":"1","smsID":"B%dN%dI%d","to":"420777777777","price":"0.71","date":"%s","channel":"sms"}'
             % (task, n, i, date) for i in range(1, 101))
    return b"[" + b",".join(items) + b"]"


WORKLOADS = {  # name: (path, content type, events per request, body)
    "csoft": ("/hooks/csoft", b"application/x-www-form-urlencoded", 1, csoft_body),
    "bulkgate": ("/hooks/bulkgate", b"application/json", 100, bulkgate_body),
}


def thread_cpu() -> tuple[float, float]:
    """User and system CPU seconds of the calling thread."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime, usage.ru_stime


async def drive(app: SmshookApp, workload: str, requests: int, concurrency: int) -> tuple[float, float, float]:
    path, content_type, _, make_body = WORKLOADS[workload]

    async def client(task: int, count: int) -> None:
        for n in range(1, count + 1):
            body = make_body(task, n)
            scope: dict[str, Any] = {
                "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
                "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 40000 + task), "scheme": "http",
                "method": "POST", "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"",
                "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", content_type),
                            (b"content-length", str(len(body)).encode())],
                "state": {},
            }
            sent: list[dict[str, Any]] = []

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
                sent.append(message)

            await app(scope, receive, send)
            status = sent[0]["status"]
            answer = sent[1]["body"]
            if status != 200 or (workload == "csoft" and b"&Report=0&" not in answer):
                raise SystemExit(f"unexpected answer {status} {answer!r}")

    per_task, extra = divmod(requests, concurrency)
    tasks = [client(t + 1, per_task + (t < extra)) for t in range(concurrency)]
    (user0, system0), process0 = thread_cpu(), time.process_time()
    await asyncio.gather(*tasks)
    (user1, system1), process1 = thread_cpu(), time.process_time()
    return user1 - user0, system1 - system0, process1 - process0


def run_once(workload: str, requests: int, concurrency: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"

        async def main() -> tuple[float, float, float]:
            store = SQLiteStore(db)
            await store.open()
            try:
                app = SmshookApp(load_settings(database=f"sqlite:///{db}"), store)
                return await drive(app, workload, requests, concurrency)
            finally:
                await store.close()

        try:
            import uvloop
        except ImportError:  # pragma: no cover - the server's own loop; asyncio's works too
            result = asyncio.run(main())
        else:
            result = uvloop.run(main())
        stored = sqlite3.connect(db).execute("SELECT count(*) FROM events").fetchone()[0]
        want = requests * WORKLOADS[workload][2]
        if stored != want:
            raise SystemExit(f"{workload}: {stored} events stored, {want} expected")
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--requests", type=int, default=20_000, help="csoft requests per run (bulkgate: 1/50th)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload; the best is reported")
    parser.add_argument("--access-log", action="store_true",
                        help="log each request as `smshook serve` does by default (text lines, info level), to "
                             "a file in the temporary directory: what the access log costs")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a cProfile of the last run to this file (read it with `python -m pstats`)")
    args = parser.parse_args()
    if args.access_log:
        logs.configure("info", "text")
        sys.stderr = open(os.environ.get("HOOKPATH_LOG", os.devnull), "w")  # noqa: SIM115 - the handler writes to whatever sys.stderr is
    for workload in WORKLOADS if args.workload == "all" else [args.workload]:
        events = WORKLOADS[workload][2]
        requests = args.requests if events == 1 else max(args.concurrency, args.requests // 50)
        runs = [run_once(workload, requests, args.concurrency) for _ in range(args.repeat - 1)]
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        runs.append(run_once(workload, requests, args.concurrency))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile.with_suffix(f".{workload}.prof"))
        user, system, process = min(runs, key=lambda r: r[0] + r[1])
        loop = (user + system) / requests * 1e6
        print(f"{workload:<9} {requests} requests x {events} event(s), {args.concurrency} tasks: event loop thread "
              f"{loop:6.1f} µs/request = {loop / events:.2f} µs/event (user {user / requests * 1e6:.1f}, "
              f"system {system / requests * 1e6:.1f}); process {process / requests * 1e6:6.1f} µs/request",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
