"""Row mappers shared by both engines: an :class:`~smshook.events.Event`, a raw request or a
delivery as a row to insert, and a stored row as the API shows it. Pure functions (no I/O, no SQL
text: that is :mod:`smshook.storage.queries`); both engines' rows come back as sequences in the
column order the queries name, so one mapper serves both."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from smshook.events import PUBLIC_FIELDS, Event, iso, shown, stamp
from smshook.forwarding.model import Filters, Outcome, Subscription
from smshook.status import FINAL
from smshook.storage.contract import RawRecord


def delivery_id(subscription_id: str, event_id: str) -> str:
    """The webhook-id of one (subscription, event): the same on every attempt and replay."""
    digest = hashlib.blake2b(f"{subscription_id}\x1f{event_id}".encode(), digest_size=16).hexdigest()
    return f"msg_{digest}"


def message_view(connection: str, message_id: str, state: Any,
                 rows: Sequence[Any]) -> dict[str, Any] | None:
    """A message as the API shows it: its ``messages`` row (status, occurred_at, conflict, updated_at)
    and its events (``EVENT_COLUMNS`` + ``effect``), oldest first; None when smshook knows neither."""
    if state is None and not rows:
        return None
    return {
        "connection": connection,
        "message_id": message_id,
        "status": state[0] if state else None,
        "final": bool(state and state[0] in FINAL),
        "conflict": bool(state and state[2]),
        "updated_at": state[3] if state else None,
        "events": [public_event(tuple(r)) for r in rows],
        "effects": {r[0]: r[-1] for r in rows if r[-1] is not None},
    }


def ts_iso(value: float | None) -> str | None:
    """A unix time (the deliveries' clock) as the API shows times."""
    return iso(datetime.fromtimestamp(value, UTC)) if value is not None else None


def ts_stamp(value: float) -> str:
    """A unix time as stored in a text column (:func:`smshook.events.stamp`)."""
    return stamp(datetime.fromtimestamp(value, UTC)) or ""


def subscription_stats(subscriptions: Iterable[Any],
                       states: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Per subscription: its counters (rows of ``SUBSCRIPTION_STATS_SQL``) and its deliveries by state
    (rows of ``DELIVERY_STATES_SQL``) as the API shows them; the same for every backend."""
    out: dict[str, dict[str, Any]] = {}
    for sub_id, successes, failures, last_error, last_error_at, last_success_at in subscriptions:
        out[sub_id] = {"backlog": 0, "in_flight": 0, "delivered": 0, "dead": 0, "successes": successes,
                       "failures": failures, "last_error": last_error, "last_error_at": ts_iso(last_error_at),
                       "last_success_at": ts_iso(last_success_at), "next_attempt_at": None}
    for sub_id, state, count, due in states:
        stats = out.get(sub_id)
        if stats is None:
            continue
        if state == "pending":
            stats["backlog"] += count
            stats["next_attempt_at"] = ts_iso(due)
        elif state == "delivering":
            stats["backlog"] += count
            stats["in_flight"] = count
        else:
            stats[state] = count
    return out


@dataclass
class AttemptCounters:
    """A batch of recorded attempts summed per subscription, so that each subscription's counters
    take one UPDATE per batch (shared by both stores)."""

    successes: dict[str, tuple[int, float]] = field(default_factory=dict)  # count, last at
    failures: dict[str, tuple[int, str | None, float]] = field(default_factory=dict)  # count, last error, at
    disable: dict[str, tuple[str, float]] = field(default_factory=dict)  # reason, at (HTTP 410)

    def add(self, subscription_id: str, outcome: Outcome) -> None:
        if outcome.state == "delivered":
            count, last = self.successes.get(subscription_id, (0, 0.0))
            self.successes[subscription_id] = (count + 1, max(last, outcome.at))
        elif outcome.attempted:
            count = self.failures.get(subscription_id, (0, None, 0.0))[0]
            self.failures[subscription_id] = (count + 1, outcome.error, outcome.at)
            if outcome.disable:
                self.disable[subscription_id] = (outcome.disable, outcome.at)


def subscription_row(sub: Subscription, now: str | None) -> tuple[Any, ...]:
    """A subscription's values for ``queries.upsert_subscription`` (``now``: a stamp)."""
    return (sub.id, sub.kind, sub.target, sub.stream, orjson.dumps(list(sub.secrets)).decode(),
            orjson.dumps(sub.filters.to_dict()).decode(), sub.enabled, sub.ordered, sub.timeout,
            sub.source, None if sub.enabled else sub.disabled_reason, now, now, sub.batch_max, sub.batch_wait)


def subscription_from_row(row: Sequence[Any]) -> Subscription:
    return Subscription(
        id=row[0], kind=row[1], target=row[2], stream=row[3], secrets=tuple(orjson.loads(row[4])),
        filters=Filters.from_dict(orjson.loads(row[5])), enabled=bool(row[6]), ordered=bool(row[7]),
        timeout=row[8], source=row[9], disabled_reason=row[10], created_at=row[11], updated_at=row[12],
        batch_max=int(row[13]), batch_wait=float(row[14]),
    )


def delivery_view(row: Sequence[Any]) -> dict[str, Any]:
    unfinished = row[6] in ("pending", "delivering")
    return {
        "id": row[1], "cursor": str(row[0]), "subscription_id": row[2], "event_id": row[3], "connection": row[4],
        "message_id": row[5], "state": row[6],
        # every attempt ever made; a replay starts a new round (attempts_since_replay) without hiding them
        "attempts": row[7] + row[14], "attempts_since_replay": row[7], "replays": row[15],
        "next_attempt_at": ts_iso(row[8]) if unfinished else None, "last_error": row[9], "last_status": row[10],
        "created_at": ts_iso(row[11]), "updated_at": ts_iso(row[12]), "delivered_at": ts_iso(row[13]),
    }


def event_row(event: Event, raw_id: str, effect: str | None) -> tuple[Any, ...]:
    return (
        event.id, event.type, event.connection, event.provider, event.message_id, event.status,
        event.provider_status, event.failure_class, event.channel, event.from_, event.to, event.text,
        event.keyword, event.reply_to, event.reference, stamp(event.occurred_at), stamp(event.received_at),
        event.price, event.currency,
        orjson.dumps(event.network).decode() if event.network is not None else None,
        orjson.dumps(event.details).decode(),
        event.key, raw_id, effect,
    )


def public_event(row: Sequence[Any]) -> dict[str, Any]:
    data = dict(zip(PUBLIC_FIELDS, row, strict=False))
    data["occurred_at"], data["received_at"] = shown(data["occurred_at"]), shown(data["received_at"])
    data["network"] = orjson.loads(data["network"]) if data["network"] else None
    data["details"] = orjson.loads(data["details"])
    return data


def request_view(method: str, path: str, query: str, headers: str, body: bytes, client: str | None) -> dict[str, Any]:
    """A raw request for the API: the body as text when it is UTF-8, else base64."""
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    return {"method": method, "path": path, "query": query, "headers": orjson.loads(headers),
            "body": text, "body_encoding": encoding, "client": client,
            # for people: the text with any invalid bytes written as \xNN (the dashboard shows this)
            "body_text": text if encoding == "utf-8" else body.decode("utf-8", "backslashreplace")}


def raw_row(raw: RawRecord, new: int, duplicates: int) -> tuple[Any, ...]:
    return (raw.id, raw.connection, raw.provider, raw.method, raw.path, raw.query,
            orjson.dumps(raw.headers).decode(), raw.body, raw.client, raw.received_at, new, duplicates)


def dismissal_view(row: Sequence[Any]) -> dict[str, Any]:
    """``dismissed_at``, ``dismissed_by``, ``dismissed_reason`` of a quarantine entry, and whether it is open."""
    return {"open": row[0] is None, "dismissed_at": row[0], "dismissed_by": row[1], "dismissed_reason": row[2]}


def quarantine_digest(raw: RawRecord) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in (raw.connection, raw.method, raw.query):
        h.update(part.encode() + b"\x1f")
    h.update(raw.body)
    return h.digest()


def delivery_row(subscription_id: str, event_id: str, connection: str, message_id: str | None, due: float,
                 now: float) -> tuple[Any, ...]:
    """An outbox row (``INSERT_DELIVERY``'s values): pending, due at ``due`` (unix seconds)."""
    return (delivery_id(subscription_id, event_id), subscription_id, event_id, connection, message_id, due, now, now)


def quarantine_view(r: Sequence[Any]) -> dict[str, Any]:
    """A quarantine entry (a row of :data:`smshook.storage.queries.QUARANTINE_SELECT`) as the API shows it."""
    return {
        "id": r[0], "connection": r[1], "provider": r[2], "reason": r[3], "http_status": r[4],
        "attempts": r[5], "first_seen": r[6], "last_seen": r[7], "reprocessed_at": r[8],
        "reprocess_result": orjson.loads(r[9]) if r[9] else None,
        "request": request_view(r[10], r[11], r[12], r[13], bytes(r[14]), r[15]), **dismissal_view(r[16:19]),
    }
