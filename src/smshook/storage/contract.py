"""The storage contract. Every backend (SQLite, PostgreSQL) implements :class:`Store` and passes the
same behavioural test suite (``tests/storage``).

:class:`Store` is the union of focused protocols, so that a part of smshook can say which slice it
needs: :class:`Lifecycle` (open, migrate, close), :class:`Ingest` (the hook path's durable writes),
:class:`EventQueries` (events, messages, stats, rejected requests), :class:`Feed` (the live feed),
:class:`QuarantineStore` (unreadable requests and their re-processing) and :class:`Outbox`
(subscriptions and deliveries). The engines share everything but their dialect: the append planner
(:mod:`smshook.storage.plan`), row mappers (:mod:`smshook.storage.rows`) and query builders
(:mod:`smshook.storage.queries`); driver errors become :class:`~smshook.errors.StoreError` through
:func:`smshook.storage.errors.map_exceptions`.

Writes are durable before they return: :meth:`Store.append` and :meth:`Store.quarantine` return
only after the transaction is committed with fsync, and concurrent callers share commits (group
commit). If the store cannot commit they raise :class:`~smshook.errors.StoreError`, and nothing of
that call was acknowledged.

One :meth:`Store.append` call is one durable transaction holding the raw request, its events
(deduplicated by idempotency key: a duplicate is counted, never stored twice) and the messages'
status projection (rules in :mod:`smshook.status`) and, for every new event, one outbox row
(delivery) per enabled subscription whose filters match: an event is never stored without being
queued for forwarding, nor queued without being stored.

Forwarding state changes (claim, attempt outcomes, replay, subscription changes) are durable writes
too. Claiming hands out leases: a claimed delivery is ``delivering`` until ``now + lease``; when the
lease expires (the dispatcher died mid-flight) it is claimable again. On PostgreSQL this is
``SELECT … FOR UPDATE SKIP LOCKED`` plus an ``UPDATE`` of the lease.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from smshook.events import Event
from smshook.forwarding.model import Claimed, DeliveryQuery, Outcome, ReplayQuery, Subscription
from smshook.privacy import SECRET_HEADERS as SECRET_HEADERS  # headers never written to the store

if TYPE_CHECKING:
    from smshook.rejected import RejectedRecord



@dataclass(frozen=True, slots=True)
class RawRecord:
    """A request as kept beside its events (path and headers already stripped of secrets)."""

    id: str
    connection: str
    provider: str
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    client: str | None
    received_at: str


@dataclass(frozen=True, slots=True)
class AppendResult:
    """``new[i]`` tells whether ``events[i]`` was stored (True) or already known (False); ``queued``:
    how many deliveries to subscriptions the same transaction queued (the dispatcher can start now)."""

    new: tuple[bool, ...]
    queued: int = 0

    @property
    def new_count(self) -> int:
        return sum(self.new)

    @property
    def duplicates(self) -> int:
        return len(self.new) - self.new_count


@dataclass(frozen=True, slots=True)
class EventQuery:
    connection: str | None = None
    type: str | None = None
    message_id: str | None = None
    status: str | None = None
    since: str | None = None  # a stamp (events.stamp: fixed width); received_at >= since
    before: str | None = None  # cursor: events with id < before
    limit: int = 50
    phone: str | None = None  # normalized digits (providers.formats.phone): ``from`` or ``to`` equals it
    until: str | None = None  # a stamp; received_at < until


class Lifecycle(Protocol):
    """Opening, migrating and closing a store."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, apply pending migrations, start background writers."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release everything."""

    @abc.abstractmethod
    async def upgrade(self) -> list[str]:
        """Apply pending schema migrations (``smshook migrate``) without opening the store for work;
        returns the migration files applied. With ``auto_migrate`` off, :meth:`open` refuses an
        outdated schema instead of applying them."""

    @abc.abstractmethod
    async def database_id(self) -> str:
        """The random id made once for this database (migration 0008): two processes showing the same
        id use the same database (``smshook doctor`` compares the CLI's with a running server's)."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the store answers a trivial query."""



class Ingest(Protocol):
    """The hook path's writes: a request and its events, durably, in one transaction."""

    @abc.abstractmethod
    async def append(self, raw: RawRecord, events: list[Event]) -> AppendResult:
        """Store a request and its events in one durable transaction; returns which were new."""

    @abc.abstractmethod
    async def quarantine(self, raw: RawRecord, reason: str, http_status: int) -> str:
        """Durably keep an unreadable request with the reason; returns the quarantine id.
        An identical request (same connection, method, query and body) only counts an attempt."""

    @abc.abstractmethod
    async def record_rejected(self, entry: RejectedRecord) -> str:
        """Keep a request refused by its provider's authenticity check (:mod:`smshook.rejected`,
        already masked); an identical one only counts an attempt. Keeps the newest ``KEEP`` entries.
        Returns the entry's id."""



class EventQueries(Protocol):
    """Reads of what was stored: events, messages, statistics, refused requests."""

    @abc.abstractmethod
    async def events(self, query: EventQuery) -> list[dict[str, Any]]:
        """Public events matching ``query``, newest first."""

    @abc.abstractmethod
    async def message(self, connection: str, message_id: str) -> dict[str, Any] | None:
        """A message's current status and its timeline (oldest first), or None when unknown."""

    @abc.abstractmethod
    async def stats(self, since: str, until: str, bucket_seconds: int,
                    connection: str | None = None) -> dict[str, Any]:
        """Delivery statistics of the sent messages whose first event was received in
        ``[since, until)``, per connection and per bucket of ``bucket_seconds`` from ``since``, and
        inbound counts: the ``connections`` and ``inbound`` parts of ``GET /v1/stats``, assembled by
        :func:`smshook.stats.assemble` from the rows described there."""

    @abc.abstractmethod
    async def rejected(self, limit: int = 50, before: str | None = None,
                       connection: str | None = None, since: str | None = None,
                       until: str | None = None) -> list[dict[str, Any]]:
        """Rejected requests (first seen in ``[since, until)`` when given, stamps), newest first: ``id,
        connection, provider, reason, message, http_status, attempts, first_seen, last_seen`` and the
        masked ``request`` (:func:`smshook.rejected.row_view`)."""



class Feed(Protocol):
    """The live feed (``GET /v1/stream``, the dashboard): events in commit order."""

    @abc.abstractmethod
    async def feed_position(self) -> int:
        """The live feed's current end: the position of the last committed event (0 when none)."""

    @abc.abstractmethod
    async def feed(self, after: int, limit: int = 500, connection: str | None = None,
                   type: str | None = None) -> list[tuple[int, dict[str, Any]]]:
        """The live feed: ``(position, public event)`` pairs committed after position ``after``, in
        commit order, at most ``limit``. Positions only grow in commit order, across every process
        writing to the store, so a reader that asks again from the last position it got misses
        nothing (SQLite: the ``events.seq`` rowid, assigned under the single-writer lock; PostgreSQL:
        ``events.feed_pos``, numbered from a counter row whose lock is held until COMMIT)."""



class QuarantineStore(Protocol):
    """Requests that could not be read: kept, listed, re-processed."""

    @abc.abstractmethod
    async def quarantined(self, limit: int = 50, before: str | None = None,
                          connection: str | None = None, state: str = "open", since: str | None = None,
                          until: str | None = None) -> list[dict[str, Any]]:
        """Quarantined requests (first seen in ``[since, until)`` when given, stamps), newest first,
        with reason and raw request, ``reprocessed_at`` and ``reprocess_result`` (``{"events": new,
        "duplicates": n}`` once re-processed, else null), and ``open``, ``dismissed_at``,
        ``dismissed_by``, ``dismissed_reason``. ``state``: ``open`` (not dismissed), ``dismissed`` or
        ``all``."""

    @abc.abstractmethod
    async def quarantine_entry(self, quarantine_id: str) -> dict[str, Any] | None:
        """One quarantined request as :meth:`quarantined` shows it, or None."""

    @abc.abstractmethod
    async def resolve_quarantine(self, quarantine_id: str, events: list[Event], at: str) -> AppendResult:
        """Store the events re-parsed from a quarantined request, in one durable transaction exactly as
        :meth:`append` does (dedup, status projection, outbox) but attached to the raw request already
        kept, and mark the entry re-processed at ``at`` with the result. Raises ``KeyError`` when there
        is no such entry and ``ValueError`` when it was re-processed already."""



class Outbox(Protocol):
    """Forwarding: subscriptions and their deliveries (the transactional outbox)."""

    @abc.abstractmethod
    async def put_subscription(self, subscription: Subscription) -> Subscription:
        """Create or replace a subscription (by id), keeping its counters; returns it as stored."""

    @abc.abstractmethod
    async def delete_subscription(self, subscription_id: str) -> bool:
        """Remove a subscription and its pending deliveries (delivered/dead history stays)."""

    @abc.abstractmethod
    async def subscriptions(self) -> list[Subscription]:
        """Every subscription, by id."""

    @abc.abstractmethod
    async def subscription(self, subscription_id: str) -> Subscription | None:
        """One subscription, or None."""

    @abc.abstractmethod
    async def subscription_stats(self) -> dict[str, dict[str, Any]]:
        """Per subscription id: backlog, in_flight, delivered, dead, successes, failures, last_error,
        last_error_at, last_success_at, next_attempt_at (ISO UTC)."""

    @abc.abstractmethod
    async def next_due(self) -> float | None:
        """The earliest ``next_attempt_at`` (unix seconds) among claimable deliveries, or None (a read)."""

    @abc.abstractmethod
    async def claim_deliveries(self, owner: str, now: float, lease: float, limit: int,
                               skip: Collection[str] = ()) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries of enabled subscriptions to ``owner`` until
        ``now + lease``, oldest due first, none of the subscriptions in ``skip`` (the dispatcher's
        targets that asked it to wait or are at their concurrency limit). For ordered subscriptions a
        delivery waits while an earlier delivery of the same message (same subscription) is pending
        or in flight."""

    @abc.abstractmethod
    async def record_attempts(self, owner: str, outcomes: Sequence[tuple[str, Outcome]]) -> list[bool]:
        """Store many attempts' outcomes (``(delivery id, outcome)``) in one durable transaction, each
        as :meth:`record_attempt` would; returns, in order, whether each was recorded. An outcome with
        ``attempted=False`` hands the lease back: pending again at ``next_attempt_at``, attempts and
        counters unchanged."""

    async def record_attempt(self, delivery_id: str, owner: str, outcome: Outcome) -> bool:
        """Store an attempt's outcome; False when the lease was lost (someone else owns it now).
        A ``delivered`` outcome is always recorded."""
        return (await self.record_attempts(owner, [(delivery_id, outcome)]))[0]

    @abc.abstractmethod
    async def deliveries(self, query: DeliveryQuery) -> list[dict[str, Any]]:
        """Deliveries matching ``query``, newest first."""

    @abc.abstractmethod
    async def replay(self, query: ReplayQuery, now: float) -> int:
        """Queue deliveries again (see :class:`ReplayQuery`); returns how many."""


class Store(Lifecycle, Ingest, EventQueries, Feed, QuarantineStore, Outbox, abc.ABC):
    """A durable home for raw requests, events, message statuses, the quarantine and the outbox: every
    protocol above, which each engine implements."""

    # Observer of the writer, for metrics: called after each group commit with the number of writes it
    # carried and its duration in seconds (fsync included), from the writer's thread. Must not block.
    on_commit: Callable[[int, float], None] | None = None
    # Message lifecycle: per connection, seconds to hold the forwarding of a status event of a message not
    # registered yet (``link_window``); set by the app from the settings (smshook.lifecycle).
    link_windows: dict[str, float] = {}  # replaced (per store), never mutated
    # How many group commits the writer made and how many jobs they carried (tests read them).
    commits = 0
    committed_jobs = 0

    def _committed(self, jobs: int, seconds: float) -> None:
        """The writer's bookkeeping after each group commit: counters, then the observer."""
        self.commits += 1
        self.committed_jobs += jobs
        if self.on_commit is not None:
            with contextlib.suppress(Exception):  # an observer's bug must not stop the writer
                self.on_commit(jobs, seconds)
