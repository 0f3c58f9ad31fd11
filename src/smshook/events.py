"""The normalized event: smshook's public contract (API, forwarding, exports).

Every provider callback becomes zero or more :class:`Event` objects. The public form of an event
(:meth:`Event.to_public`) has exactly these fields, in this order:

=================  ==========================================================================
``id``             smshook's own id, a UUIDv7 string: sortable by time of receipt
``type``           ``"status"`` (news about a message we sent), ``"inbound"`` (a message to us), or
                   ``"optout"`` / ``"optin"`` (a subscriber's STOP / START: :mod:`smshook.lifecycle`)
``connection``     the configured connection it arrived on (one provider account)
``provider``       the provider kind: ``csoft``, ``cdyne``, ``webcom``, ``spryng``, ``bulkgate``...
``message_id``     the provider's id of the message concerned (status: our outgoing message;
                   inbound: the inbound message's own id, when the provider gives one)
``status``         status events only: the unified status (:mod:`smshook.status`)
``provider_status`` the provider's raw status or code, exactly as received (string)
``failure_class``  ``"temporary"``, ``"permanent"`` or null
``channel``        ``"sms"`` unless the provider says otherwise (``"viber"``)
``from``, ``to``   phone numbers or short codes, digits without ``+`` / ``00``
``text``           inbound only: the whole text
``keyword``        inbound only: the first word, upper-cased (or the provider's own keyword)
``reply_to``       inbound only: the outgoing message this one answers
``reference``      the customer's own reference: from the message's registration, else as echoed
``metadata``       only on events of a registered message: the JSON object given at registration
``occurred_at``    the provider's timestamp in UTC, ISO 8601 with ``Z``; null when none given
``received_at``    when smshook received it, UTC
``price``          a decimal string; ``currency`` says in what (BulkGate: ``"credits"``)
``network``        ``{"mccmnc", "operator", "country"}`` when known
``details``        every other provider field, kept as given
=================  ==========================================================================

Retries are recognised by :func:`idempotency_key`, built only from the provider's own data, so the
same callback delivered twice yields the same key and is stored once.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any, Literal

EventType = Literal["status", "inbound", "optout", "optin"]
FailureClass = Literal["temporary", "permanent"]

PUBLIC_FIELDS: tuple[str, ...] = (
    "id", "type", "connection", "provider", "message_id", "status", "provider_status",
    "failure_class", "channel", "from", "to", "text", "keyword", "reply_to", "reference",
    "occurred_at", "received_at", "price", "currency", "network", "details",
)


@dataclass(slots=True)
class Event:
    """One normalized event. Adapters fill what the provider said; :func:`finalize` the rest."""

    type: EventType
    message_id: str | None = None
    status: str | None = None
    provider_status: str | None = None
    failure_class: FailureClass | None = None
    channel: str = "sms"
    from_: str | None = None
    to: str | None = None
    text: str | None = None
    keyword: str | None = None
    reply_to: str | None = None
    reference: str | None = None
    occurred_at: datetime | None = None
    price: str | None = None
    currency: str | None = None
    network: dict[str, str | None] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # Extra provider data that tells two otherwise equal callbacks apart (e.g. a raw receipt text).
    key_extra: str = ""
    # Message lifecycle (never public as such): the provider's own submit time of the message (the
    # best start for time to delivery after a registration's sent_at), and whether this is
    # smshook's own `expired` for a message without a final receipt (details say so publicly).
    submitted_at: datetime | None = None
    synthetic: bool = False
    # Filled by finalize():
    id: str = ""
    connection: str = ""
    provider: str = ""
    received_at: datetime | None = None
    key: bytes = b""

    def to_public(self) -> dict[str, Any]:
        """The event as the public contract defines it (JSON-ready)."""
        return {
            "id": self.id,
            "type": self.type,
            "connection": self.connection,
            "provider": self.provider,
            "message_id": self.message_id,
            "status": self.status,
            "provider_status": self.provider_status,
            "failure_class": self.failure_class,
            "channel": self.channel,
            "from": self.from_,
            "to": self.to,
            "text": self.text,
            "keyword": self.keyword,
            "reply_to": self.reply_to,
            "reference": self.reference,
            "occurred_at": iso(self.occurred_at),
            "received_at": iso(self.received_at),
            "price": self.price,
            "currency": self.currency,
            "network": self.network,
            "details": self.details,
        }


_iso_cache: dict[datetime, str] = {}
_ISO_CACHE_SIZE = 4096


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with ``Z``; milliseconds only when there are any."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # another zone, or naive (read as local time)
        return _iso_utc(value.astimezone(UTC))
    # Memoized for UTC values (where equal means the same instant): the events of one request
    # share their received_at, often their occurred_at, and each is formatted several times on its
    # way to the store.
    text = _iso_cache.get(value)
    if text is None:
        if len(_iso_cache) >= _ISO_CACHE_SIZE:
            _iso_cache.clear()
        text = _iso_cache[value] = _iso_utc(value)
    return text


def _iso_utc(value: datetime) -> str:
    # isoformat() of a UTC datetime ends in "+00:00": swap that for "Z" (C speed, unlike strftime).
    if value.microsecond:
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return value.isoformat()[:-6] + "Z"


_stamp_cache: dict[datetime, str] = {}


def stamp(value: datetime | None) -> str | None:
    """The form every time is stored and compared in: UTC, always ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

    Fixed width (24 characters for years 1 to 9999), so text order is time order: with the display
    form of :func:`iso`, ``"…12:00:00.123Z" >= "…12:00:00Z"`` is false. Milliseconds, like the
    UUIDv7 ids and every time smshook has ever stored (finer digits are cut, as :func:`iso` cuts
    them). :func:`shown` turns a stamp back into the display form."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    text = _stamp_cache.get(value)
    if text is None:
        if len(_stamp_cache) >= _ISO_CACHE_SIZE:
            _stamp_cache.clear()
        text = _stamp_cache[value] = value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return text


def shown(value: str | None) -> str | None:
    """A stored :func:`stamp` in the public display form of :func:`iso` (``.000`` left out), so what
    the API, exports and webhooks show is what they showed before storage became fixed-width."""
    if value is not None and value.endswith(".000Z") and len(value) == 24:
        return value[:-5] + "Z"
    return value


def key_time(value: datetime | None) -> str:
    """The time as it enters the idempotency key. FROZEN: this is :func:`iso`'s format as it was when
    keys were first stored (UTC, ``Z``, milliseconds only when non-zero, finer digits cut, ``""`` for
    no time). Changing it would change every key, so a provider's retry of a callback stored before
    an upgrade would be stored twice; tests/test_idempotency_keys.py pins keys made with it. Never
    replace it with :func:`iso` or :func:`stamp`, whatever becomes of them."""
    if value is None:
        return ""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    text = _key_cache.get(value)  # memoized as iso() is: keys are made for every event received
    if text is None:
        if len(_key_cache) >= _ISO_CACHE_SIZE:
            _key_cache.clear()
        if value.microsecond:
            text = value.isoformat(timespec="milliseconds")[:-6] + "Z"
        else:
            text = value.isoformat()[:-6] + "Z"
        _key_cache[value] = text
    return text


_key_cache: dict[datetime, str] = {}


def idempotency_key(event: Event) -> bytes:
    """A deterministic 16-byte key from the provider's own data (never from smshook's clock).

    status:  connection, type, message id, raw status, channel, provider time, key_extra
    inbound: connection, type, message id, sender, recipient, text, provider time, key_extra
    """
    when = key_time(event.occurred_at)
    if event.type == "status":
        material = "\x1f".join((event.connection, event.type, event.message_id or "", event.provider_status or "",
                                 event.channel or "", when, event.key_extra))
    else:
        material = "\x1f".join((event.connection, event.type, event.message_id or "", event.from_ or "",
                                 event.to or "", event.text or "", when, event.key_extra))
    return blake2b(material.encode("utf-8", "surrogatepass"), digest_size=16).digest()


_uuid_lock = threading.Lock()
_last_ms = 0
_seq = 0
# Random bits come from os.urandom in blocks (one system call per 512 ids, not one per id); a
# forked child starts with an empty block so it never repeats its parent's bits.
_POOL_SIZE = 4096
_pool = b""
_pool_at = 0
_RAND_MASK = (1 << 62) - 1
_VERSION_VARIANT = (0x7 << 76) | (0b10 << 62)


def _reset_pool() -> None:
    global _pool, _pool_at
    _pool, _pool_at = b"", 0


os.register_at_fork(after_in_child=_reset_pool)


def uuid7() -> str:
    """A UUIDv7 string (RFC 9562): 48-bit ms timestamp, then a 12-bit counter so ids made in the
    same millisecond in this process still sort in creation order, then 62 random bits."""
    global _last_ms, _seq, _pool, _pool_at
    with _uuid_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _seq += 1
            if _seq > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _seq = 0
            ms = _last_ms
        else:
            _last_ms, _seq = ms, 0
        seq = _seq
        at = _pool_at
        if at + 8 > len(_pool):
            _pool, at = os.urandom(_POOL_SIZE), 0
        _pool_at = at + 8
        rand = int.from_bytes(_pool[at:at + 8], "big") & _RAND_MASK
    h = f"{(ms << 80) | (seq << 64) | _VERSION_VARIANT | rand:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def finalize(events: list[Event], connection: str, provider: str, received_at: datetime) -> list[Event]:
    """Stamp smshook's own fields on the events an adapter produced."""
    for event in events:
        event.id = uuid7()
        event.connection = connection
        event.provider = provider
        event.received_at = received_at
        event.key = idempotency_key(event)
    return events
