"""Delivery statistics (``GET /v1/stats``, ``smshook stats``, the dashboard's funnel and charts).

A *message* is a sent message known from its status events (a connection and a provider message
id); it belongs to the window, and to the bucket, in which its first event was received. Its
outcome is its current status: ``delivered`` (delivered or read), ``failed`` (any other final
status, broken down by the ``failure_class`` of the event that made it final, ``unclassified`` when
the provider gave none) or ``pending`` (not final). ``delivery_rate`` is delivered / (delivered +
failed), null when neither. Time to delivery runs from the message's best known start (its
registration's ``sent_at``, else the provider's own submit time, else its earliest event time when
it has more than one event: a lone receipt has no start and no time to delivery, never 0) to the
time of its first delivered (or read) event; the median and the 90th percentile are shown. Country
and operator come from the events' ``network`` field, where the provider gives one.

Backends do the heavy lifting in SQL and hand :func:`assemble` three small row sets:

* counts: ``(connection, provider, bucket, status, failure_class, country, operator, messages)``,
  one row per distinct combination, ``bucket`` the 0-based index from ``since``;
* durations: ``(connection, bucket, seconds)``, the time to delivery of each delivered message (one
  number per message: medians need them all, and sorting them here is cheaper than SQL window
  functions over the same rows);
* inbound: ``(connection, count)`` of inbound events received in the window.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from smshook.events import iso, stamp
from smshook.status import FINAL

if TYPE_CHECKING:
    from smshook.storage.base import Store

# window name -> (length, bucket) in seconds
WINDOWS: dict[str, tuple[int, int]] = {"hour": (3600, 60), "day": (86400, 3600), "week": (7 * 86400, 6 * 3600)}
DELIVERED = frozenset({"delivered", "read"})
FAILED = FINAL - DELIVERED
UNCLASSIFIED = "unclassified"

CountRow = tuple[str, str, int, str, str | None, str | None, str | None, int]
DurationRow = tuple[str, int, float]


def window_bounds(window: str, now: datetime | None = None) -> tuple[datetime, datetime, int]:
    """``(since, until, bucket_seconds)``: buckets aligned to whole multiples of their length (UTC),
    the last one holding ``now``; ``until`` is ``now``."""
    if window not in WINDOWS:
        raise ValueError(f"window: {window!r} is not one of {', '.join(WINDOWS)}")
    length, bucket = WINDOWS[window]
    until = now or datetime.now(UTC)
    end = (int(until.timestamp()) // bucket + 1) * bucket
    return datetime.fromtimestamp(end - length, UTC), until, bucket


async def collect(store: Store, window: str, connection: str | None = None,
                  configured: Mapping[str, str] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The whole ``GET /v1/stats`` answer. ``configured`` (connection -> provider) lists connections
    that show, with zeros, even without messages in the window."""
    since_at, until_at, bucket = window_bounds(window, now)
    # The store compares exact stamps (to the millisecond); the answer shows times as the API does.
    found = await store.stats(stamp(since_at) or "", stamp(until_at) or "", bucket, connection)
    since, until = iso(since_at) or "", iso(until_at) or ""
    listed = {c["connection"] for c in found["connections"]}
    for name, provider in (configured or {}).items():
        if name not in listed and connection in (None, name):
            found["connections"].append(empty_connection(name, provider, since, until, bucket))
    found["connections"].sort(key=lambda c: c["connection"])
    return {"window": window, "since": since, "until": until, "bucket_seconds": bucket, **found}


def exact(value: str) -> str:
    """An ISO 8601 UTC time as stored (:func:`smshook.events.stamp`): the stores' exact bounds."""
    return stamp(datetime.fromisoformat(value.replace("Z", "+00:00"))) or ""


def epoch(value: str) -> float:
    """Unix seconds of an ISO 8601 UTC time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _rate(delivered: int, failed: int) -> float | None:
    return round(delivered / (delivered + failed), 4) if delivered + failed else None


def _seconds(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def empty_connection(connection: str, provider: str, since: str, until: str, bucket_seconds: int) -> dict[str, Any]:
    """The statistics of a connection without messages in the window."""
    return _assemble_connection(connection, provider, _bucket_starts(since, until, bucket_seconds), [], {})


def _bucket_starts(since: str, until: str, bucket_seconds: int) -> list[str]:
    start = datetime.fromisoformat(since.replace("Z", "+00:00"))
    count = max(1, math.ceil((epoch(until) - start.timestamp()) / bucket_seconds))  # covering [since, until)
    return [iso(start + timedelta(seconds=i * bucket_seconds)) or "" for i in range(count)]


def p90(values: list[float]) -> float:
    """The 90th percentile, interpolated between the nearest ranks (PostgreSQL's percentile_cont)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def assemble(since: str, until: str, bucket_seconds: int, counts: Iterable[CountRow],
             durations: Iterable[DurationRow], inbound: Iterable[tuple[str, int]],
             p90s: Iterable[tuple[str, float]] | None = None) -> dict[str, Any]:
    """The ``connections`` (sorted by name) and ``inbound`` parts of the statistics; ``p90s``: the 90th
    percentile of time to delivery per connection when the backend computed it (else from ``durations``)."""
    starts = _bucket_starts(since, until, bucket_seconds)
    per: dict[str, list[CountRow]] = {}
    for row in counts:
        per.setdefault(row[0], []).append(row)
    times: dict[str, dict[int | None, list[float]]] = {}
    for conn, bucket, seconds in durations:
        per_bucket = times.setdefault(conn, {})
        per_bucket.setdefault(bucket, []).append(seconds)
        per_bucket.setdefault(None, []).append(seconds)
    mids = {conn: {b: statistics.median(v) for b, v in per_bucket.items()} for conn, per_bucket in times.items()}
    tails = dict(p90s) if p90s is not None else {conn: p90(b[None]) for conn, b in times.items()}
    connections = [_assemble_connection(name, rows[0][1], starts, rows, mids.get(name, {}), tails.get(name))
                   for name, rows in sorted(per.items())]
    return {"connections": connections, "inbound": {conn: n for conn, n in sorted(inbound)}}


def _assemble_connection(connection: str, provider: str, starts: list[str], rows: list[CountRow],
                         medians: dict[int | None, float], tail: float | None = None) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    by_class: dict[str, int] = {}
    series = [{"messages": 0, "delivered": 0, "failed": 0} for _ in starts]
    places: dict[str, dict[str, dict[str, int]]] = {"country": {}, "operator": {}}
    for _, _, bucket, status, failure_class, country, operator, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        outcome = "delivered" if status in DELIVERED else "failed" if status in FAILED else "pending"
        if outcome == "failed":
            key = failure_class or UNCLASSIFIED
            by_class[key] = by_class.get(key, 0) + n
        if 0 <= bucket < len(series):
            point = series[bucket]
            point["messages"] += n
            if outcome != "pending":
                point[outcome] += n
        for kind, name in (("country", country), ("operator", operator)):
            if name:
                entry = places[kind].setdefault(name, {"messages": 0, "delivered": 0, "failed": 0})
                entry["messages"] += n
                if outcome != "pending":
                    entry[outcome] += n
    delivered = sum(n for s, n in by_status.items() if s in DELIVERED)
    failed = sum(by_class.values())
    messages = sum(by_status.values())
    return {
        "connection": connection,
        "provider": provider,
        "messages": messages,
        "by_status": dict(sorted(by_status.items())),
        "funnel": {"sent": messages, "delivered": delivered, "failed": failed,
                   "pending": messages - delivered - failed, "failed_by_class": dict(sorted(by_class.items()))},
        "delivery_rate": _rate(delivered, failed),
        "median_time_to_delivery_s": _seconds(medians.get(None)),
        "p90_time_to_delivery_s": _seconds(tail),
        "series": [{"t": t, **p, "delivery_rate": _rate(p["delivered"], p["failed"]),
                    "median_time_to_delivery_s": _seconds(medians.get(i))}
                   for i, (t, p) in enumerate(zip(starts, series, strict=True))],
        "by_country": {k: {**v, "delivery_rate": _rate(v["delivered"], v["failed"])}
                       for k, v in sorted(places["country"].items())},
        "by_operator": {k: {**v, "delivery_rate": _rate(v["delivered"], v["failed"])}
                        for k, v in sorted(places["operator"].items())},
    }
