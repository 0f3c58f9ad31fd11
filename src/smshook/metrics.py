"""Prometheus metrics: what ``GET /metrics`` shows.

One :class:`Metrics` per app, on its own ``CollectorRegistry`` (so tests, and several apps in one
process, never share counters). The hook path is hot, so its counters are plain numbers per
connection (:class:`HookMeters`, looked up once per request) that a custom collector turns into
metric families at scrape time. All a single-event request adds (timing, counters, the access-log
level check) is about 1.5 µs of CPU (``bench/metrics_overhead.py``); the same counting through
pre-bound ``Counter``/``Histogram`` children alone cost 2.2 µs (their locks and bucket loop).

| metric | labels | what |
|---|---|---|
| ``smshook_hook_requests_total`` | connection, outcome | hook requests by outcome (:data:`OUTCOMES`) |
| ``smshook_hook_answer_seconds`` | connection | time from request to answer (histogram) |
| ``smshook_events_stored_total`` | connection, type, status | new events stored (status ``-``: inbound) |
| ``smshook_events_duplicate_total`` | connection | events recognised as already stored |
| ``smshook_quarantined_total`` | connection, reason | requests kept in the quarantine, by reason class |
| ``smshook_rejected_total`` | connection, reason | requests refused by the provider's authenticity check |
| ``smshook_store_commit_jobs`` | | writes carried by one group commit (histogram) |
| ``smshook_store_commit_seconds`` | | duration of one group commit, fsync included (histogram) |
| ``smshook_forwarding_backlog`` | subscription | deliveries pending or in flight (read at scrape time) |
| ``smshook_forwarding_dead_letters`` | subscription | dead-lettered deliveries (read at scrape time) |
| ``smshook_forwarding_attempts_total`` | subscription, outcome | delivery attempts: delivered, failed, dead, disabled |

plus ``smshook_info``, ``process_*`` and ``python_*``. Requests to unknown connections are counted
under ``connection="-"`` (one series, however many names strangers try).

The numbers are per process: with ``serve --workers N`` each worker counts its own requests and a
scrape reaches whichever worker accepts the connection (the forwarding gauges, read from the
store, are the same in every worker).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from smshook import __version__
from smshook.errors import StoreError
from smshook.events import Event
from smshook.status import STATUSES
from smshook.storage.base import Store

__all__ = ["CONTENT_TYPE", "OUTCOMES", "UNKNOWN", "HookMeters", "Metrics"]

log = logging.getLogger("smshook.metrics")
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNKNOWN = "-"  # the connection label of requests to no configured connection; the status label of inbound
OUTCOMES = ("accepted", "duplicate", "quarantined", "unauthorized", "forbidden", "not_found", "method_not_allowed",
            "too_large", "bad_request", "store_unavailable", "busy")
QUARANTINE_REASONS = ("invalid_request", "adapter_error")
ATTEMPT_OUTCOMES = ("delivered", "failed", "dead", "disabled")
# Seconds: hook answers take about a millisecond when all is well; fsync'd commits a few.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
EVENT_KINDS: tuple[tuple[str, str], ...] = (("inbound", UNKNOWN), *(("status", s) for s in STATUSES))
disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the exposition and Prometheus needs none


class HookMeters:
    """One connection's hook-path counters: plain numbers, read by :class:`_HookCollector` at scrape
    time. Only the event loop's thread touches them (requests and scrapes alike), so no locks."""

    __slots__ = ("buckets", "duplicates", "events", "latency_sum", "name", "outcomes", "quarantined", "rejected")

    def __init__(self, name: str) -> None:
        self.name = name
        known = name != UNKNOWN  # requests to no connection are only ever refused: no event series for them
        self.outcomes = dict.fromkeys(OUTCOMES if known else ("not_found",), 0)
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket (not cumulative); the last is +Inf
        self.latency_sum = 0.0
        self.events = dict.fromkeys(EVENT_KINDS if known else (), 0)
        self.duplicates = 0
        self.quarantined = dict.fromkeys(QUARANTINE_REASONS if known else (), 0)
        self.rejected: dict[str, int] = {}

    def request(self, outcome: str, seconds: float) -> None:
        outcomes = self.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: a value equal to a bound is in it
        self.latency_sum += seconds

    def stored(self, events: Sequence[Event], new: Sequence[bool]) -> None:
        counts = self.events
        for event, is_new in zip(events, new, strict=False):  # same length (AppendResult); strict costs
            if is_new:
                kind = (event.type, event.status or UNKNOWN)
                counts[kind] = counts.get(kind, 0) + 1
            else:
                self.duplicates += 1

    def quarantine(self, reason: str) -> None:
        self.quarantined[reason] = self.quarantined.get(reason, 0) + 1

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


class _HookCollector(Collector):
    def __init__(self, meters: dict[str, HookMeters]) -> None:
        self.meters = meters

    def collect(self) -> Iterator[Metric]:
        meters = list(self.meters.values())
        requests = CounterMetricFamily("smshook_hook_requests", "Hook requests by connection and outcome",
                                       labels=["connection", "outcome"])
        latency = HistogramMetricFamily("smshook_hook_answer_seconds",
                                        "Time from a hook request's arrival to its answer", labels=["connection"])
        events = CounterMetricFamily("smshook_events_stored", "New events stored, by connection, type and status",
                                     labels=["connection", "type", "status"])
        duplicates = CounterMetricFamily("smshook_events_duplicate", "Events received again and not stored twice",
                                         labels=["connection"])
        quarantined = CounterMetricFamily("smshook_quarantined", "Requests kept in the quarantine, by reason class",
                                          labels=["connection", "reason"])
        rejected = CounterMetricFamily("smshook_rejected", "Requests refused by the provider's authenticity check, "
                                       "by reason", labels=["connection", "reason"])
        bounds = [floatToGoString(b) for b in LATENCY_BUCKETS] + ["+Inf"]  # type: ignore[no-untyped-call]
        for m in meters:
            for outcome, n in list(m.outcomes.items()):
                requests.add_metric([m.name, outcome], n)
            latency.add_metric([m.name], list(zip(bounds, accumulate(m.buckets), strict=True)), m.latency_sum)
            if m.name != UNKNOWN:
                for (kind, status), n in list(m.events.items()):
                    events.add_metric([m.name, kind, status], n)
                duplicates.add_metric([m.name], m.duplicates)
                for reason, n in list(m.quarantined.items()):
                    quarantined.add_metric([m.name, reason], n)
                for reason, n in list(m.rejected.items()):
                    rejected.add_metric([m.name, reason], n)
        yield from (requests, latency, events, duplicates, quarantined, rejected)


class Metrics:
    """Every smshook metric, on a registry of its own."""

    def __init__(self, connections: Iterable[str] = (), *, process: bool = True) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        if process:  # the default collectors, registered on this registry rather than the global one
            default: tuple[Collector, ...] = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)
            for collector in default:
                registry.register(collector)
        Gauge("smshook_info", "smshook version", ["version"], registry=registry).labels(__version__).set(1)
        self._meters: dict[str, HookMeters] = {}
        registry.register(_HookCollector(self._meters))
        self.commit_jobs = Histogram("smshook_store_commit_jobs", "Writes carried by one group commit",
                                     buckets=BATCH_BUCKETS, registry=registry)
        self.commit_seconds = Histogram("smshook_store_commit_seconds", "Duration of one group commit (fsync "
                                        "included)", buckets=COMMIT_BUCKETS, registry=registry)
        self.backlog = Gauge("smshook_forwarding_backlog", "Deliveries pending or in flight, per subscription",
                             ["subscription"], registry=registry)
        self.dead = Gauge("smshook_forwarding_dead_letters", "Dead-lettered deliveries, per subscription",
                          ["subscription"], registry=registry)
        self.attempts = Counter("smshook_forwarding_attempts", "Delivery attempts by subscription and outcome",
                                ["subscription", "outcome"], registry=registry)
        for name in (*connections, UNKNOWN):
            self.hook_meters(name)

    def hook_meters(self, connection: str) -> HookMeters:
        meters = self._meters.get(connection)
        if meters is None:
            meters = self._meters[connection] = HookMeters(connection)
        return meters

    def on_commit(self, jobs: int, seconds: float) -> None:
        """The store's observer: called by its writer after each group commit (any thread)."""
        self.commit_jobs.observe(jobs)
        self.commit_seconds.observe(seconds)

    def on_attempt(self, subscription: str, outcome: str) -> None:
        """The dispatcher's observer: one delivery attempt and what came of it."""
        self.attempts.labels(subscription, outcome).inc()

    async def render(self, store: Store | None = None) -> bytes:
        """The exposition text; the forwarding gauges are read from ``store`` first."""
        if store is not None:
            try:
                stats = await store.subscription_stats()
            except StoreError as exc:
                log.warning("metrics: cannot read forwarding backlog: %s", exc)
            else:
                self.backlog.clear()
                self.dead.clear()
                for sub_id, row in stats.items():
                    self.backlog.labels(sub_id).set(row["backlog"])
                    self.dead.labels(sub_id).set(row["dead"])
                    for outcome in ATTEMPT_OUTCOMES:  # zeros from the start, so rate() sees the first attempt
                        self.attempts.labels(sub_id, outcome)
        return generate_latest(self.registry)
