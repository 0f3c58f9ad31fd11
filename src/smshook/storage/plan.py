"""The append planner: what one request's events change, decided in Python without I/O.

Both engines run it inside their write transaction, on state they have read first (the keys already
stored, the current states of the messages the batch touches, the enabled subscriptions):

* dedup: an event whose idempotency key is stored already (or came earlier in the batch) is a
  duplicate: counted, never stored twice;
* status advance: a status event moves its message's state by :func:`smshook.status.advance`; a
  synthetic ``expired`` that comes after a real final is dropped;
* outbox fan-out: every new event gets one delivery row per enabled subscription whose filters
  match (:func:`fan_out`), in the events' transaction.

The engines only write what the plan says (SQLite: multi-row INSERTs by its group-commit writer;
PostgreSQL: ``unnest`` arrays, with ``ON CONFLICT`` still the final arbiter of a key between
instances). A plan is made once per request, not per event: the hot path pays no copies for it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smshook.events import Event, stamp
from smshook.forwarding.model import Matcher, Subscription
from smshook.status import MessageState, advance
from smshook.storage.rows import delivery_row, event_row

MessageKey = tuple[str, str]  # (connection, message_id)


@dataclass(slots=True)
class Planned:
    """One request's plan. ``new[i]``: whether ``events[i]`` is to be stored; ``rows``: their events
    rows (:func:`smshook.storage.rows.event_row`), in order; ``changed``: the messages' new states;
    ``starts``: the provider's submit times (fill ``messages.sent_at`` when empty); ``fresh``: the new
    keys. Only what every append needs is built in the loop; the rest is derived on demand."""

    events: Sequence[Event]
    new: list[bool]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    changed: dict[MessageKey, MessageState] = field(default_factory=dict)
    starts: dict[MessageKey, str] = field(default_factory=dict)
    fresh: set[bytes] = field(default_factory=set)

    @property
    def stored(self) -> list[Event]:
        """The events to store, in order (for the outbox fan-out)."""
        return [e for e, new in zip(self.events, self.new, strict=True) if new]


def status_messages(events: Iterable[Event]) -> tuple[MessageKey, ...]:
    """The messages whose state these events may change (the state to read before planning)."""
    return tuple({(e.connection, e.message_id) for e in events if e.type == "status" and e.message_id and e.status})


def plan_events(events: Sequence[Event], raw_id: str, received_at: str, known: Collection[bytes],
                states: Mapping[MessageKey, MessageState | None]) -> Planned:
    """Plan the events of one request. ``known``: keys stored already (by the database or earlier in
    the batch); ``states``: the current state of every message in :func:`status_messages` (``None``
    when unknown). Neither is changed: the caller merges ``fresh`` and ``changed`` once the plan is
    taken (the next request of the batch is planned on top of them)."""
    plan = Planned(events, [])
    new, rows, changed, fresh = plan.new, plan.rows, plan.changed, plan.fresh
    for event in events:
        if event.key in known or event.key in fresh:
            new.append(False)
            continue
        effect = None
        if event.type == "status" and event.message_id and event.status:
            key = (event.connection, event.message_id)
            current = changed[key] if key in changed else states[key]
            state, effect = advance(current, event.status, stamp(event.occurred_at), received_at, event.synthetic)
            if event.synthetic and effect == "late":  # a real final came first: no synthetic expired
                new.append(False)
                continue
            if event.submitted_at is not None:
                plan.starts[key] = stamp(event.submitted_at) or ""
            if state is not current or event.submitted_at is not None:
                changed[key] = state
        fresh.add(event.key)
        new.append(True)
        rows.append(event_row(event, raw_id, effect))
    return plan


def unresolvable(quarantine_id: str, entry: Any) -> LookupError | ValueError | None:
    """Why a quarantine entry (its ``raw_request_id, reprocessed_at``, or None when there is none)
    cannot be re-processed: ``KeyError`` (no such entry) or ``ValueError`` (done already); else None.
    Returned, not raised, from inside the write batch (its neighbours' work is not undone)."""
    if entry is None:
        return KeyError(quarantine_id)
    if entry[1] is not None:
        return ValueError(f"quarantine entry {quarantine_id} was re-processed already at {entry[1]}")
    return None


def held_events(events: Iterable[Event], windows: Mapping[str, float]) -> list[Event]:
    """The status events whose deliveries wait ``link_window`` unless their message is registered
    (:mod:`smshook.lifecycle`): the engine looks these up, then :func:`link_waits` says how long."""
    return [e for e in events if windows.get(e.connection) and e.type == "status" and e.message_id
            and not e.synthetic]


def link_waits(held: Iterable[Event], registered: Collection[MessageKey],
               windows: Mapping[str, float]) -> dict[str, float]:
    """Per event id: seconds to hold its deliveries (a status of a message not registered yet)."""
    return {e.id: windows[e.connection] for e in held if (e.connection, e.message_id) not in registered}


def fan_out(events: Iterable[Event], matchers: Sequence[Matcher], now: float,
            waits: Mapping[str, float]) -> list[tuple[Any, ...]]:
    """The transactional outbox: one delivery row (``INSERT_DELIVERY``'s values) per new event and
    matching enabled subscription, due now (or after the event's link wait)."""
    return [delivery_row(m.subscription.id, e.id, e.connection, e.message_id, now + waits.get(e.id, 0.0), now)
            for e in events for m in matchers if m.matches(e)]


def backfill(rows: Iterable[Any], subscription: Subscription, now: float) -> list[tuple[Any, ...]]:
    """Replay for a subscription that came after its events: delivery rows for the stored events
    (rows of ``id, type, connection, message_id, status, keyword, text``) its filters match."""
    matcher = Matcher(subscription)
    fresh = []
    for r in rows:
        probe = Event(type=r[1], message_id=r[3], status=r[4], keyword=r[5], text=r[6])
        probe.connection = r[2]
        if matcher.matches(probe):
            fresh.append(delivery_row(subscription.id, r[0], r[2], r[3], now, now))
    return fresh
