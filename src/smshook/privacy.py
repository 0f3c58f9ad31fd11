"""Personal data: finding a phone number in any common written form, retention durations.

Phone numbers and message texts are personal data. Erasure (``DELETE /v1/subscribers/{phone}``,
``smshook erase``) looks for a number wherever smshook keeps it: the events' ``from``/``to``, texts and
details, the raw requests' path, query, headers and body, the quarantine's reasons, the deliveries'
last errors, the rejected-requests log and the registered messages (reference and metadata included).
A number is written in many ways: ``+447700900123``, ``447700900123``, ``00447700900123``,
``+44 7700 900123``, ``+44-7700-900-123``, ``(+44) 7700 900123``, and in URL-encoded bodies
``%2B447700900123`` or ``+44+7700+900123``. :func:`number_pattern` matches all of them (and no longer
number that merely contains the digits); it is written in the regular-expression syntax that both
Python and PostgreSQL understand, so the database can filter the rows before Python rewrites them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smshook.providers import formats

ERASED = "[erased]"
# Request headers never written to the store (raw requests) nor shown (the rejected log).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"})
# Between two digits of a number: spaces, dots, dashes, brackets, slashes, and their URL encodings.
_SEPARATOR = r"(?:[ .()/-]|%20|%2[dD]|%28|%29|\+)*"
_PREFIX = r"(?:\+|%2[bB]|00)?"
MIN_DIGITS = 6  # shorter "numbers" (short codes) would match all sorts of unrelated digits


def subscriber_digits(value: str) -> str:
    """The number as digits (``formats.phone``: no ``+`` or leading ``00``, spaces and dashes removed);
    ValueError naming what is wrong when it is not a phone number."""
    text = re.sub(r"[\s().-]", "", value)
    digits = formats.phone(text)
    if digits is None or not digits.isdigit():
        raise ValueError(f"not a phone number: give digits, e.g. +447700900123 (got {len(value)} characters "
                         "with something other than digits, spaces, dashes, brackets or a leading + or 00)")
    if len(digits) < MIN_DIGITS or len(digits) > 20:
        raise ValueError(f"a phone number has {MIN_DIGITS} to 20 digits (got {len(digits)})")
    return digits


def number_pattern(digits: str) -> str:
    """A regular expression (Python and PostgreSQL syntax) matching the number in any written form;
    groups 1 and 2 are the characters around it (kept by :class:`Scrubber`)."""
    return r"(^|[^0-9])" + _PREFIX + _SEPARATOR.join(digits) + r"($|[^0-9])"


class Scrubber:
    """Replaces every written form of one number with :data:`ERASED`, in text and in bytes."""

    def __init__(self, digits: str) -> None:
        self.digits = digits
        self.pattern = number_pattern(digits)
        self._text = re.compile(self.pattern)
        self._bytes = re.compile(self.pattern.encode())

    def holds(self, value: str | bytes | None) -> bool:
        if value is None:
            return False
        if isinstance(value, bytes):
            return self._bytes.search(value) is not None
        return self._text.search(value) is not None

    def text(self, value: str) -> str:
        # A match takes the character after the number with it, so two numbers separated by one
        # character need a second pass.
        for _ in range(4):
            new = self._text.sub(lambda m: m.group(1) + ERASED + m.group(2), value)
            if new == value:
                break
            value = new
        return value

    def data(self, value: bytes) -> bytes:
        marker = ERASED.encode()
        for _ in range(4):
            new = self._bytes.sub(lambda m: m.group(1) + marker + m.group(2), value)
            if new == value:
                break
            value = new
        return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"([0-9]{1,6})\s*([smhdw])")


def parse_duration(value: str) -> timedelta | None:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"2w"``, ``"3600s"`` as a timedelta; ``"forever"`` (or empty)
    is None: kept for ever. ValueError names what is wrong."""
    text = value.strip().lower()
    if text in ("", "forever", "never"):
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{value!r} is not a duration: write a number and a unit (s, m, h, d or w), e.g. "
                         "\"30d\", or \"forever\"")
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds < 60:
        raise ValueError(f"{value!r} is shorter than a minute: nothing would stay long enough to be read")
    return timedelta(seconds=seconds)


class RetentionSpec(BaseModel):
    """How long stored rows are kept, as durations (``"30d"``, ``"12h"``; ``"forever"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: str | None = Field(
        default=None, description="Events (and, with their last event, messages' status rows and deliveries; "
        "registrations once their messages have no event left) older than this are deleted, but for each "
        "number's latest opt-out / opt-in per sender. Unset: kept for ever.")
    raw_requests: str | None = Field(
        default=None, description="Raw requests (bodies as received) older than this are deleted, with the "
        "resolved quarantine entries that showed them (open entries keep theirs). Unset: kept for ever.")

    @field_validator("events", "raw_requests")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    def durations(self) -> tuple[timedelta | None, timedelta | None]:
        """(events, raw_requests) as timedeltas; None: for ever."""
        return (parse_duration(self.events) if self.events else None,
                parse_duration(self.raw_requests) if self.raw_requests else None)


class InstallationRetention(RetentionSpec):
    """The installation's ``[retention]`` table: durations, and how the background pruner works."""

    interval: str = Field(default="1h", description="How often the background pruner looks for expired rows.")
    batch_size: int = Field(default=500, ge=10, le=10_000,
                            description="Rows deleted per transaction (small: ingestion never waits long).")

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if parse_duration(value) is None:
            raise ValueError("the pruner needs an interval such as \"1h\"")
        return value


@dataclass(frozen=True)
class Retention:
    """How long rows are kept (None: for ever), for the installation and per connection."""

    events: timedelta | None = None
    raw_requests: timedelta | None = None
    connections: Mapping[str, tuple[timedelta | None, timedelta | None]] = field(default_factory=dict)
    # per connection: (events, raw_requests); a connection not listed follows the installation

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.events, self.raw_requests)) or any(
            e is not None or r is not None for e, r in self.connections.values())


def retention_of(default_events: timedelta | None, default_raw: timedelta | None,
                 connections: Iterable[tuple[str, timedelta | None, timedelta | None]]) -> Retention:
    return Retention(default_events, default_raw, {name: (e, r) for name, e, r in connections})
