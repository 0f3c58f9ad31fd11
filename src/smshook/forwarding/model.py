"""Subscriptions and deliveries as plain data, shared by the store, the dispatcher and the API.

A :class:`Subscription` says where events go (a webhook URL or a Redis stream), how they are signed
(``whsec_`` secrets; during rotation every listed secret signs) and which events it wants
(:class:`Filters`). Matching (:meth:`Subscription.matches`) runs inside the store's append
transaction for every new event, so it is precompiled and cheap, and ``text_regex`` runs on RE2
(:func:`compile_text_regex`): matching takes time linear in the text whatever the pattern, so no
subscription can stall the writer with a catastrophic pattern such as ``^(a|aa)+$``.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import re2

from smshook.events import Event

SinkKind = Literal["webhook", "redis"]
DeliveryState = Literal["pending", "delivering", "delivered", "dead"]
DELIVERY_STATES: tuple[str, ...] = ("pending", "delivering", "delivered", "dead")
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
MAX_REGEX = 1000  # characters of a text_regex
REGEX_MEMORY = 1 << 20  # bytes RE2 may use for one compiled filter (a bigger program is refused)
# When a delivery is tried (seconds after the previous try: immediately, 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 10 h: eight attempts over about 28 hours), unless forwarding_schedule says otherwise.
DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


class TextRegex:
    """A ``text_regex`` compiled for RE2 (case-insensitive): :meth:`search` takes time linear in the
    text whatever the pattern (no backtracking). It answers yes or no through RE2's ``Set``, which
    skips the offset bookkeeping of ``re2.search`` (about 7 µs instead of 40 µs on a short SMS)."""

    __slots__ = ("_set",)

    def __init__(self, pattern: str, options: re2.Options) -> None:
        self._set = re2.Set.SearchSet(options)
        self._set.Add(pattern)
        self._set.Compile()

    def search(self, text: str) -> bool:
        return self._set.Match(text) is not None


def compile_text_regex(pattern: str) -> TextRegex:
    """``pattern`` compiled for RE2; ValueError names what is wrong: too long, or a construct RE2
    does not have (back-references, look-around), or a program too big for its memory budget."""
    if len(pattern) > MAX_REGEX:
        raise ValueError(f"at most {MAX_REGEX} characters (got {len(pattern)})")
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = REGEX_MEMORY
    try:
        re2.compile(pattern, options)  # for its error message; the Set's says only "failed"
        options.never_capture = True
        return TextRegex(pattern, options)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"not a regular expression smshook can run in linear time (RE2 syntax: no "
                         f"back-references or look-around): {detail}") from None


def generate_secret() -> str:
    """A new Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ValueError (without the value) when malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("secret must start with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except ValueError:
        raise ValueError("secret must be 'whsec_' followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"secret must hold 24 to 64 bytes of key (got {len(key)})")
    return key


@dataclass(frozen=True, slots=True)
class Filters:
    """Which events a subscription wants. Empty lists mean "any". ``keywords`` and ``text_regex``
    only ever match inbound messages: a subscription that sets one receives no status events."""

    types: tuple[str, ...] = ()
    connections: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()  # compared upper-cased with the event's keyword (first word)
    text_regex: str | None = None  # searched in the inbound text (RE2, case-insensitive)

    def to_dict(self) -> dict[str, Any]:
        return {"types": list(self.types), "connections": list(self.connections),
                "statuses": list(self.statuses), "keywords": list(self.keywords), "text_regex": self.text_regex}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Filters:
        data = data or {}
        return cls(
            types=tuple(data.get("types") or ()),
            connections=tuple(data.get("connections") or ()),
            statuses=tuple(data.get("statuses") or ()),
            keywords=tuple(k.upper() for k in data.get("keywords") or ()),
            text_regex=data.get("text_regex") or None,
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    kind: SinkKind
    target: str  # webhook: the https URL; redis: the redis:// URL
    secrets: tuple[str, ...]  # the first is current; all of them sign (rotation)
    filters: Filters = field(default_factory=Filters)
    stream: str | None = None  # redis only
    enabled: bool = True
    ordered: bool = False
    timeout: float | None = None  # seconds; None: the forwarding_timeout setting
    source: Literal["config", "api"] = "api"
    batch_max: int = 1  # webhook: up to this many events in one POST (a JSON array); 1: one event each
    batch_wait: float = 0.0  # seconds a batch may wait to fill up before it is sent
    disabled_reason: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    def public(self, stats: dict[str, Any] | None = None) -> dict[str, Any]:
        """The subscription as the API shows it (secrets included: the API is authenticated)."""
        data: dict[str, Any] = {
            "id": self.id, "kind": self.kind,
            "url": self.target if self.kind == "webhook" else None,
            "redis_url": self.target if self.kind == "redis" else None,
            "stream": self.stream, "secret": self.secrets[0] if self.secrets else None,
            "secrets": list(self.secrets), "filters": self.filters.to_dict(), "enabled": self.enabled,
            "ordered": self.ordered, "timeout": self.timeout, "source": self.source,
            "disabled_reason": self.disabled_reason, "created_at": self.created_at, "updated_at": self.updated_at,
            "batch_max": self.batch_max, "batch_wait": self.batch_wait,
        }
        if stats is not None:
            data["stats"] = stats
        return data


class Matcher:
    """A subscription's filters compiled for the hot path."""

    __slots__ = ("broken", "connections", "inbound_only", "keywords", "regex", "statuses", "subscription", "types")

    def __init__(self, subscription: Subscription) -> None:
        f = subscription.filters
        self.subscription = subscription
        self.types = frozenset(f.types) or None
        self.connections = frozenset(f.connections) or None
        self.statuses = frozenset(f.statuses) or None
        self.keywords = frozenset(k.upper() for k in f.keywords) or None
        self.regex: TextRegex | None = None
        self.broken = False  # a pattern stored before RE2 that RE2 cannot run: matches nothing
        if f.text_regex:
            try:
                self.regex = compile_text_regex(f.text_regex)
            except ValueError:
                self.broken = True
        self.inbound_only = self.keywords is not None or self.regex is not None or self.broken

    def matches(self, event: Event) -> bool:
        if self.broken:
            return False
        if self.types is not None and event.type not in self.types:
            return False
        if self.connections is not None and event.connection not in self.connections:
            return False
        if self.statuses is not None and event.status not in self.statuses:
            return False
        if self.inbound_only:
            if event.type != "inbound":
                return False
            if self.keywords is not None:
                keyword = event.keyword or next(iter((event.text or "").split()), "")
                if keyword.upper() not in self.keywords:
                    return False
            if self.regex is not None and not self.regex.search(event.text or ""):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery handed to the dispatcher under a lease."""

    id: str  # the webhook-id: stable for one (subscription, event)
    subscription: Subscription
    event: dict[str, Any]  # the public event
    attempts: int  # attempts made before this one
    lease_owner: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to. ``state`` is ``delivered``, ``pending`` (retry at ``next_attempt_at``)
    or ``dead``; ``disable`` also disables the subscription (HTTP 410) with that reason."""

    state: DeliveryState
    at: float
    next_attempt_at: float | None = None
    error: str | None = None
    http_status: int | None = None
    disable: str | None = None
    # False: no attempt was made (the dispatcher hands the lease back, e.g. its target asked it to
    # wait with 429 + Retry-After): the delivery is pending again at next_attempt_at, attempts unchanged.
    attempted: bool = True


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    subscription_id: str | None = None
    state: str | None = None
    event_id: str | None = None
    connection: str | None = None
    message_id: str | None = None
    limit: int = 50
    before: str | None = None  # cursor: the seq of the last row of the previous page
    since: float | None = None  # unix seconds: created (queued) at or after
    until: float | None = None  # unix seconds: created before


@dataclass(frozen=True, slots=True)
class ReplayQuery:
    """Which deliveries to send again (reset to pending, attempts to 0, same webhook-id).
    At least one of ``event_ids``, ``message_id`` or ``subscription_id`` must be given; ``since`` /
    ``until`` (unix seconds) bound the events' receipt time; ``states`` limits which deliveries (empty:
    any state except those already in flight). With ``subscription_id``, events in the range that
    match the subscription but never had a delivery for it (the subscription came later) get one."""

    event_ids: tuple[str, ...] = ()
    subscription_id: str | None = None
    connection: str | None = None
    message_id: str | None = None
    since: str | None = None  # a stamp (events.stamp), received_at >= since
    until: str | None = None  # a stamp, received_at < until
    states: tuple[str, ...] = ()
