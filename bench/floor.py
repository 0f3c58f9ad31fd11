"""The floor: the least a Python receiver on uvicorn can do and still answer only after it stored.

    python bench/floor.py --port 8082 --database /tmp/floor.db      # durable: SQLite, WAL, synchronous=FULL
    python bench/floor.py --port 8082 --store none                   # hand-off only: nothing stored

A raw ASGI app on uvicorn (uvloop, httptools), like ``noop.py``, that hands each request to one writer
thread and answers ``200 OK`` when that thread says so, the way smshook's store does: every request
that arrived while the previous commit was being fsync'd goes into the next transaction (group
commit), one multi-row ``INSERT OR IGNORE`` per batch into a table with a UNIQUE key (so retries are
stored once), the waiting requests woken with one ``call_soon_threadsafe`` per batch.

It does nothing else: no routing but the benchmark's paths, no validation, no provider answer, no
raw request kept, no status roll-up, no ids. Its events are cut out of the benchmark's own bodies with
the cheapest split that works for them (a BulkGate JSON array into its items with orjson, a Webcom
XML document at each ``</state>``, anything else is one event) and its key is the BLAKE2b of the
event's bytes. With ``--store none`` nothing is cut out and the writer thread answers at once: the
cost of handing requests to another thread and back, with no disk at all.

Whatever smshook does beyond this is smshook's own cost; what this floor costs is the price of the
stack (uvicorn, asyncio, Python's sqlite3) and of the guarantee (answer after the fsync'd commit).
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from hashlib import blake2b
from typing import Any

import orjson
import uvicorn

Message = MutableMapping[str, Any]
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
ROW = "(?, ?)"


def events_of(path: str, body: bytes) -> list[bytes]:
    if path.endswith("/bulkgate"):
        return [orjson.dumps(item) for item in orjson.loads(body)]
    if path.endswith("/webcom"):
        return [part + b"</state>" for part in body.split(b"</state>")[:-1]]
    return [body]


class Writer:
    """One thread, one connection, group commit; ``store`` resolves once the batch is committed."""

    def __init__(self, database: str | None) -> None:
        self.database = database
        self.jobs: queue.SimpleQueue[tuple[list[bytes], asyncio.Future[None]]] = queue.SimpleQueue()
        self.loop = asyncio.get_running_loop()
        threading.Thread(target=self.run, daemon=True, name="floor-writer").start()

    def store(self, events: list[bytes]) -> asyncio.Future[None]:
        future = self.loop.create_future()
        self.jobs.put((events, future))
        return future

    def run(self) -> None:
        conn = None
        if self.database is not None:
            conn = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, "
                         "body BLOB NOT NULL)")
        while True:
            batch = [self.jobs.get()]
            while True:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            error: Exception | None = None
            if conn is not None:
                try:
                    self.write(conn, [event for events, _ in batch for event in events])
                except Exception as exc:  # not stored: these requests get a 500, nothing hangs
                    error = exc
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
            self.loop.call_soon_threadsafe(_settle, [future for _, future in batch], error)

    @staticmethod
    def write(conn: sqlite3.Connection, events: list[bytes]) -> None:
        params: list[bytes] = []
        for event in events:
            params += (blake2b(event, digest_size=16).digest(), event)
        conn.execute("BEGIN")
        for at in range(0, len(params), 32_000):  # SQLite's limit: 32766 variables per statement
            chunk = params[at:at + 32_000]
            rows = ", ".join([ROW] * (len(chunk) // 2))
            conn.execute(f"INSERT OR IGNORE INTO events (key, body) VALUES {rows}", chunk)
        conn.execute("COMMIT")


def _settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for future in futures:
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def make_app(database: str | None) -> Callable[[Message, Any, Any], Awaitable[None]]:
    writer: list[Writer] = []

    async def app(scope: Message, receive: Callable[[], Awaitable[Message]],
                  send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            if not writer:
                writer.append(Writer(database))
            await writer[0].store(events_of(scope["path"], body) if database is not None else [body])
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": b"OK"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--database", default="floor.db", help="the SQLite file [floor.db]")
    parser.add_argument("--store", choices=("sqlite", "none"), default="sqlite")
    args = parser.parse_args()
    uvicorn.run(make_app(args.database if args.store == "sqlite" else None), host=args.host, port=args.port,
                loop="uvloop", http="httptools", lifespan="off", access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
