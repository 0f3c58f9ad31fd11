"""Shared decoding for provider adapters: the one place that knows how to read what providers send.

Every function raises :class:`~smshook.errors.InvalidRequest` with a message naming the field or
the position that is wrong, never a foreign exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_to_bytes
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as SafeET
import orjson
from defusedxml import DefusedXmlException

from smshook.errors import InvalidRequest
from smshook.providers.base import RawRequest

# -- text -------------------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """UTF-8, falling back to Latin-1 (every byte is valid Latin-1) when the bytes are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# -- forms ------------------------------------------------------------------------------------------


def parse_form(data: bytes) -> dict[str, str]:
    """A tolerant ``application/x-www-form-urlencoded`` reader.

    Accepts what strict parsers refuse: raw spaces, colons and other unencoded characters in values
    (CDYNE receipts), a trailing ``&``, fields without ``=``. ``+`` is a space. Each value is
    percent-decoded to bytes and read as UTF-8, or Latin-1 when not valid UTF-8 (Spryng). The first
    occurrence of a repeated field wins.
    """
    fields: dict[str, str] = {}
    for part in data.split(b"&"):
        part = part.strip(b"\r\n")
        if not part:
            continue
        name, _, value = part.partition(b"=")
        key = decode_text(unquote_to_bytes(name.replace(b"+", b" "))).strip()
        if key and key not in fields:
            fields[key] = decode_text(unquote_to_bytes(value.replace(b"+", b" ")))
    return fields


def form_fields(request: RawRequest) -> dict[str, str]:
    """Fields from the query string and the body (read as a form whatever the Content-Type says);
    body fields win over query fields of the same name."""
    fields = parse_form(request.query) if request.query else {}
    if request.body:
        fields.update(parse_form(request.body))
    return fields


def require(fields: Mapping[str, Any], name: str) -> str:
    """The field's value as a non-empty string, or InvalidRequest naming the missing field."""
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidRequest(f"missing field {name!r}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest(f"field {name!r} must be a string or a number")
    return str(value).strip()


def optional(fields: Mapping[str, Any], name: str) -> str | None:
    """The field's value as a stripped string, or None when absent or empty."""
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest(f"field {name!r} must be a string or a number")
    text = str(value).strip()
    return text or None


# -- JSON -------------------------------------------------------------------------------------------

# A JSON string, or a comma followed only by white space and a closing bracket.
_TRAILING_COMMA = re.compile(rb'("(?:[^"\\]|\\.)*")|,(\s*[\]}])', re.DOTALL)


def loads_lenient(data: bytes) -> Any:
    """JSON, tolerating trailing commas before ``]`` or ``}`` (BulkGate's own sample has one)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    cleaned = _TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), data)
    try:
        return orjson.loads(cleaned)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc


# -- XML --------------------------------------------------------------------------------------------


def parse_xml(data: bytes) -> Element:
    """Parse XML with entity expansion, external entities and DTD-based tricks refused."""
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
        return root
    except DefusedXmlException as exc:
        raise InvalidRequest(f"XML refused: {type(exc).__name__} (DTDs and entities are not allowed)") from exc
    except SafeET.ParseError as exc:
        raise InvalidRequest(f"body is not well-formed XML: {exc}") from exc


def looks_like_xml(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def looks_like_json(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{")


# -- phone numbers ----------------------------------------------------------------------------------


def phone(value: str | None) -> str | None:
    """A phone number or short code as digits without ``+`` or a leading ``00``.

    A ``+`` that arrived unencoded in a query string reads as a space: that is stripped too.
    Alphanumeric sender ids are kept as given.
    """
    if value is None:
        return None
    text = value.strip().replace(" ", "")
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00") and text.isdigit():
        text = text[2:]
    return text or None


# -- time -------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_time(value: str, fmt: str, tz: str, *, field: str) -> datetime:
    """Parse a provider timestamp with ``strptime`` format ``fmt`` in zone ``tz`` and convert it to
    UTC. ``tz`` is an IANA name; a format with ``%z`` or a trailing ``Z`` overrides it."""
    try:
        parsed = datetime.strptime(value.strip(), fmt)
    except ValueError as exc:
        raise InvalidRequest(f"field {field!r}: {value!r} is not a time in the form {fmt!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC if tz == "UTC" else zone(tz))
    return parsed.astimezone(UTC)


# -- numbers ----------------------------------------------------------------------------------------


def decimal_text(value: Any, *, field: str) -> str | None:
    """A price or amount as a plain decimal string (``"0.71"``), or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRequest(f"field {field!r} must be a decimal number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InvalidRequest(f"field {field!r}: {value!r} is not a decimal number") from exc
    if not number.is_finite():
        raise InvalidRequest(f"field {field!r}: {value!r} is not a decimal number")
    return format(number, "f")


def first_word(text: str | None) -> str | None:
    """The keyword of an inbound text: its first word, upper-cased."""
    if not text:
        return None
    words = text.split(maxsplit=1)
    return words[0].upper() if words else None
