"""What the metrics and the access-log check add to one hook request, in microseconds.

    .venv/bin/python bench/metrics_overhead.py

Times exactly the calls the hook path makes per request (web/hooks.py): two perf_counter() reads,
the per-request Exchange, the connection's pre-bound meters, the outcome counter and latency
histogram, the stored-events counters (one event, and a 100-item bulk array), and the access-log
level check (with the access log off, as in the benchmark's --log-level warning); then what one
access line costs when it is on (--log-level info), written to /dev/null.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import timeit
from datetime import UTC, datetime
from time import perf_counter

from smshook import logs
from smshook.events import Event, uuid7
from smshook.metrics import Metrics
from smshook.web.hooks import Connection, Exchange, _log_access, access_log

N = 200_000


def main() -> None:
    logging.getLogger().setLevel(logging.WARNING)
    metrics = Metrics(["csoft", "bulkgate"])
    now = datetime.now(UTC)
    one = [Event(type="status", connection="csoft", provider="csoft", message_id="m", status="delivered",
                 received_at=now)]
    bulk = [Event(type="status", connection="bulkgate", provider="bulkgate", message_id=str(i),
                  status="delivered" if i % 3 else "buffered", received_at=now) for i in range(100)]

    def request(events: list[Event], new: tuple[bool, ...]) -> None:
        started = perf_counter()
        ex = Exchange()
        meters = metrics.hook_meters(events[0].connection)
        meters.stored(events, new)
        ex.outcome = "accepted"
        meters.request(ex.outcome, perf_counter() - started)
        if access_log.isEnabledFor(logging.INFO):
            raise AssertionError("the access log should be off here")

    def nothing(events: list[Event], new: tuple[bool, ...]) -> None:
        pass

    def cost(fn: object, events: list[Event], new: tuple[bool, ...], n: int) -> float:
        # CPU time of this process, best of 7: on a busy machine wall time mostly measures the neighbours
        timer = timeit.Timer(lambda: fn(events, new), timer=time.process_time)  # type: ignore[operator]
        return min(timer.repeat(number=n, repeat=7)) / n

    for label, events, n in (("single event", one, N), ("bulk array of 100 events", bulk, N // 50)):
        new = tuple(True for _ in events)
        seconds = cost(request, events, new, n) - cost(nothing, events, new, n)
        print(f"{label:<26} {seconds * 1e6:6.2f} µs per request")

    from smshook.providers import get

    connection = Connection("csoft", get("csoft"), None)  # type: ignore[arg-type]
    scope = {"method": "POST", "path": "/hooks/csoft", "client": ("203.0.113.7", 40000)}
    ex = Exchange()
    ex.outcome, ex.events = "accepted", 1

    def access(events: list[Event], new: tuple[bool, ...]) -> None:
        ex.request_id = uuid7()
        _log_access(scope, connection, 200, ex, 0.00084)

    def request_id(events: list[Event], new: tuple[bool, ...]) -> None:
        ex.request_id = uuid7()

    with open(os.devnull, "w") as devnull:
        stderr, sys.stderr = sys.stderr, devnull
        try:
            results = []
            for fmt in ("text", "json"):
                logs.configure("info", fmt, mask=True)
                results.append((fmt, cost(access, one, (), N // 10) - cost(request_id, one, (), N // 10)))
        finally:
            sys.stderr = stderr
            logging.getLogger().setLevel(logging.WARNING)
    for fmt, seconds in results:
        print(f"{'access line, ' + fmt:<26} {seconds * 1e6:6.2f} µs per request (only at --log-level info)")


if __name__ == "__main__":
    main()
