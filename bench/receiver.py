"""The forwarding benchmark's webhook receiver: the no-op ceiling's app (raw ASGI on uvicorn, uvloop,
httptools) that also counts what it receives and how late it arrives.

    python bench/receiver.py --port 8082

``POST`` anything: answered ``200 OK`` at once; the body is read as smshook's webhook JSON (one event,
or a batch's array) and each event's ``received_at`` (when smshook received the callback) is
subtracted from the arrival time: the callback → webhook latency, on one machine's clock.
``GET /stats``: ``{"webhooks", "events", "first", "last"}`` since start or the last ``POST /reset``;
``GET /stats?latency=1`` adds ``"latency_ms": {"p50", "p90", "p99", "max"}``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any

import orjson
import uvicorn

Message = MutableMapping[str, Any]
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
JSON = [(b"content-type", b"application/json")]
MAX_SAMPLES = 500_000


class State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.webhooks = 0
        self.events = 0
        self.first: float | None = None
        self.last: float | None = None
        self.latencies: list[float] = []

    def received(self, body: bytes, now: float) -> None:
        self.webhooks += 1
        self.first = self.first if self.first is not None else now
        self.last = now
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        items = data if isinstance(data, list) else [data]
        self.events += len(items)
        if len(self.latencies) < MAX_SAMPLES:
            for item in items:
                stamp = item.get("data", {}).get("received_at") if isinstance(item, dict) else None
                if stamp:
                    self.latencies.append(now - datetime.fromisoformat(stamp).timestamp())

    def stats(self, latency: bool) -> dict[str, Any]:
        counts = {"webhooks": self.webhooks, "events": self.events, "first": self.first, "last": self.last}
        if not latency:  # the cheap poll (sorting the samples on every poll would slow the receiver down)
            return counts
        ordered = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else None

        return {**counts, "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)}}


STATE = State()


async def app(scope: Message, receive: Callable[[], Awaitable[Message]],
              send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    if scope["method"] == "GET" and scope["path"] == "/stats":
        await send({"type": "http.response.start", "status": 200, "headers": JSON})
        body = orjson.dumps(STATE.stats(b"latency" in scope["query_string"]))
        await send({"type": "http.response.body", "body": body})
        return
    if scope["path"] == "/reset":
        STATE.reset()
    else:
        STATE.received(b"".join(chunks), time.time())
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"OK"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools", lifespan="off",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
