"""Shared decoding for provider adapters: the one place that knows how to read what providers send.

Every function raises :class:`~smshook.errors.InvalidRequest` with a message naming the field or
the position that is wrong, never a foreign exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
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


def _form_text(raw: bytes) -> str:
    """One percent-encoded form key or value as text (``+`` is a space)."""
    if b"%" in raw or b"+" in raw:
        return _unescaped(raw) if len(raw) <= 64 else _unescape(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _unescape(raw: bytes) -> str:
    raw = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# Short escaped keys and values, cached: timestamps, phone numbers and field names repeat.
_unescaped = lru_cache(maxsize=1024)(_unescape)


def parse_form(data: bytes) -> dict[str, str]:
    """A tolerant ``application/x-www-form-urlencoded`` reader.

    Accepts what strict parsers refuse: raw spaces, colons and other unencoded characters in values
    (CDYNE receipts), a trailing ``&``, fields without ``=``. ``+`` is a space. Each value is
    percent-decoded to bytes and read as UTF-8, or Latin-1 when not valid UTF-8 (Spryng). The first
    occurrence of a repeated field wins.
    """
    fields: dict[str, str] = {}
    if data.isascii():  # the common case: split the text once, decode only what is percent-encoded
        text = data.decode("ascii")
        lines = "\r" in text or "\n" in text
        for part in text.split("&"):
            name, _, value = (part.strip("\r\n") if lines else part).partition("=")
            key = (_form_text(name.encode()) if "%" in name or "+" in name else name).strip()
            if key and key not in fields:
                fields[key] = _form_text(value.encode()) if "%" in value or "+" in value else value
        return fields
    for raw in data.split(b"&"):
        name_bytes, _, value_bytes = raw.strip(b"\r\n").partition(b"=")
        key = _form_text(name_bytes).strip()
        if key and key not in fields:
            fields[key] = _form_text(value_bytes)
    return fields


# Small forms parsed lately, by their bytes (read-only): an answer that echoes a field (csoft's
# MessageIdentifier) reads the parse its adapter made moments before instead of parsing again.
# Two generations of at most _FORMS_SIZE each: a full one becomes the older, the older is dropped.
_forms: dict[bytes, dict[str, str]] = {}
_older_forms: dict[bytes, dict[str, str]] = {}
_FORMS_SIZE = 256
_FORM_BYTES = 2048


def _parsed_form(data: bytes) -> dict[str, str]:
    global _forms, _older_forms
    fields = _forms.get(data)
    if fields is None:
        fields = _older_forms.get(data)
        if fields is None:
            fields = parse_form(data)
        if len(data) <= _FORM_BYTES:
            if len(_forms) >= _FORMS_SIZE:
                _older_forms, _forms = _forms, {}
            _forms[data] = fields
    return fields


MASK = b"***"


def mask_fields(data: bytes, names: frozenset[str]) -> bytes:
    """A form (body or query string) with the value of every field named in ``names`` replaced by
    ``***`` (the field name read as :func:`parse_form` reads it: ``P%49N`` is ``PIN``); every other
    byte as it was. Data in which no such field can hide comes back unchanged."""
    if not names or (b"%" not in data and b"+" not in data and not any(n.encode() in data for n in names)):
        return data
    parts = data.split(b"&")
    changed = False
    for i, part in enumerate(parts):
        name, sep, value = part.partition(b"=")
        if not (sep and value):
            continue
        # a name of letters and digits reads as itself: no decoding (csoft's seven fields per receipt)
        secret = name.decode() in names if name.isalnum() else _form_text(name.strip(b"\r\n")).strip() in names
        if secret:
            parts[i] = name + sep + MASK
            changed = True
    return b"&".join(parts) if changed else data


def form_fields(request: RawRequest) -> dict[str, str]:
    """Fields from the query string and the body (read as a form whatever the Content-Type says);
    body fields win over query fields of the same name."""
    fields = dict(_parsed_form(request.query)) if request.query else {}
    if request.body:
        fields.update(_parsed_form(request.body))
    return fields


def form_value(request: RawRequest, name: str) -> str | None:
    """``form_fields(request).get(name)`` (for answers that echo one field)."""
    found = _parsed_form(request.body).get(name) if request.body else None
    if found is None and request.query:
        found = _parsed_form(request.query).get(name)
    return found


def require(fields: Mapping[str, Any], name: str) -> str:
    """The field's value as a non-empty string, or InvalidRequest naming the missing field."""
    value = fields.get(name)
    if type(value) is str and (text := value.strip()):  # the common case, without the checks below
        return text
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
    if type(value) is str:  # the common case, without the checks below
        return value.strip() or None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest(f"field {name!r} must be a string or a number")
    text = str(value).strip()
    return text or None


# -- JSON -------------------------------------------------------------------------------------------

# At most this many trailing commas are repaired in one body: each repair parses the body again.
MAX_JSON_REPAIRS = 16


def loads_lenient(data: bytes) -> Any:
    """JSON, tolerating trailing commas before ``]`` or ``}`` (BulkGate's own sample has one).

    Linear time in the body's length, valid or not: orjson itself finds each trailing comma (its
    error names the position, and everything before it is known to be well-formed JSON, so the comma
    is never inside a string); the comma is dropped and the body parsed again, at most
    :data:`MAX_JSON_REPAIRS` times. (A regular expression that skipped strings to find the commas
    took quadratic time on a body of unterminated escapes.)
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        error = exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as bad:  # orjson's own words ("surrogates not allowed") name no byte
        raise InvalidRequest(f"body is not valid UTF-8: byte 0x{data[bad.start]:02x} at offset {bad.start} "
                             f"({bad.reason})") from None
    for _ in range(MAX_JSON_REPAIRS):
        if error.msg != "trailing comma is not allowed" or text[error.pos:error.pos + 1] != ",":
            break
        text = text[:error.pos] + text[error.pos + 1:]
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            error = exc
    else:
        if error.msg == "trailing comma is not allowed":
            raise InvalidRequest(f"body is not valid JSON: more than {MAX_JSON_REPAIRS} trailing commas")
    raise InvalidRequest(f"body is not valid JSON: {error}")


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
    except (LookupError, ValueError) as exc:  # encoding="bogus", a multi-byte encoding expat cannot read
        raise InvalidRequest(f"XML refused: unsupported encoding ({exc})") from None


def looks_like_xml(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def looks_like_json(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{")


# -- phone numbers ----------------------------------------------------------------------------------


_SEPARATORS = str.maketrans("", "", "-().")
# The strings phone() leaves something of (for API documents): not blanks, a lone "+", or "00" written
# with any of the separators - ( ) . and spaces.
# Whitespace as str.strip() sees it, spelled out: a JSON Schema's \s is ECMA-262's, another set.
BLANKS = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_BLANK = f"[{BLANKS}]*"
_SEPARATOR = r"[-(). ]*"
PHONE_PATTERN = rf"^(?!{_BLANK}$)(?!{_BLANK}\+{_BLANK}$)(?!{_BLANK}{_SEPARATOR}0{_SEPARATOR}0{_SEPARATOR}{_BLANK}$)"


def phone(value: str | None) -> str | None:
    """A phone number or short code as digits without ``+`` or a leading ``00``.

    A ``+`` that arrived unencoded in a query string reads as a space: that is stripped too, and so are
    the separators of a number written by hand (``-``, ``(``, ``)``, ``.``).
    Alphanumeric sender ids are kept as given.
    """
    if value is None:
        return None
    text = value.strip().replace(" ", "")
    if any(c in text for c in "-().") and text.lstrip("+").translate(_SEPARATORS).isdigit():
        text = text.translate(_SEPARATORS)  # written with separators: "+44 (20) 7946-0018"
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00") and text.isascii() and text.isdigit():
        text = text[2:]
    return text or None


# -- time -------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# strptime directives the fast path reads: fixed-width digits.
_WIDTHS = {"Y": 4, "y": 2, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}
_Layout = tuple[int, tuple[tuple[str, int, int], ...], tuple[tuple[int, str], ...]]


@lru_cache(maxsize=64)
def _layout(fmt: str) -> _Layout | None:
    """(length, fields, literals) of a format made only of fixed-width digit fields and literal
    characters, or None when the format needs strptime (``%I``, ``%p``, ``%z``, ``%%``...)."""
    fields: list[tuple[str, int, int]] = []
    literals: list[tuple[int, str]] = []
    pos = i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            code = fmt[i + 1:i + 2]
            if code not in _WIDTHS or any(f[0] == code for f in fields):
                return None
            fields.append((code, pos, pos + _WIDTHS[code]))
            pos += _WIDTHS[code]
            i += 2
        else:  # matched exactly here; strptime is laxer (any case, runs of space) and takes the rest
            literals.append((pos, fmt[i]))
            pos += 1
            i += 1
    if "Y" in (f[0] for f in fields) and "y" in (f[0] for f in fields):
        return None
    return pos, tuple(fields), tuple(literals)


def _fast_strptime(value: str, layout: _Layout) -> datetime | None:
    """``datetime.strptime`` for a value in exactly the canonical shape of a fixed-width layout
    (every field zero-padded, literals as in the format); None for anything else, which then goes
    to strptime itself, so results and errors never differ from it."""
    length, fields, literals = layout
    if len(value) != length or not value.isascii():
        return None
    for pos, char in literals:
        if value[pos] != char:
            return None
    parts = {"Y": 1900, "m": 1, "d": 1, "H": 0, "M": 0, "S": 0}
    for code, start, end in fields:
        digits = value[start:end]
        if not digits.isdigit():
            return None
        number = int(digits)
        if code == "y":  # strptime's pivot: 69-99 are 1900s, 00-68 are 2000s
            code, number = "Y", number + (2000 if number <= 68 else 1900)
        parts[code] = number
    try:
        return datetime(parts["Y"], parts["m"], parts["d"], parts["H"], parts["M"], parts["S"])
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _utc_time(value: str, fmt: str, tz: str) -> datetime:
    """The UTC time of a stripped provider timestamp (cached: batches repeat their times)."""
    layout = _layout(fmt)
    parsed = _fast_strptime(value, layout) if layout is not None else None
    if parsed is None:
        parsed = datetime.strptime(value, fmt)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC if tz == "UTC" else zone(tz))
    return parsed.astimezone(UTC)


# Longer than any time a provider writes: refused before strptime sees it.
MAX_TIME_LENGTH = 64


def parse_time(value: str, fmt: str, tz: str, *, field: str) -> datetime:
    """Parse a provider timestamp with ``strptime`` format ``fmt`` in zone ``tz`` and convert it to
    UTC. ``tz`` is an IANA name; a format with ``%z`` or a trailing ``Z`` overrides it. Only ASCII
    digits are digits (strptime alone reads Arabic-Indic digits as numbers); a time that has no UTC equivalent
    (``0001-01-01 00:00:00`` east of Greenwich) is out of range."""
    text = value.strip()
    if len(text) > MAX_TIME_LENGTH or not text.isascii():
        raise InvalidRequest(f"field {field!r}: {value[:MAX_TIME_LENGTH]!r} is not a time in the form {fmt!r}")
    try:
        return _utc_time(text, fmt, tz)
    except ValueError as exc:
        raise InvalidRequest(f"field {field!r}: {value!r} is not a time in the form {fmt!r}") from exc
    except OverflowError:
        raise InvalidRequest(f"field {field!r}: {value!r} is out of range (no such time in UTC)") from None


# -- numbers ----------------------------------------------------------------------------------------


# Bounds of every number read from a provider, checked on the text before any conversion: a field
# of a million digits, or ``1e999999999`` (which Decimal would expand to a billion digits), is an
# invalid request, never a computation.
MAX_NUMBER_LENGTH = 32  # characters of a decimal as written (sign, digits, point, exponent)
MAX_DECIMAL_EXPONENT = 18  # |value| < 10**18, and no digit below 10**-18
MAX_INTEGER_DIGITS = 18  # integer codes and counts: within 64 bits
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def decimal_text(value: Any, *, field: str) -> str | None:
    """A price or amount as a plain decimal string (``"0.71"``), or None when absent. Only ASCII
    digits; at most :data:`MAX_NUMBER_LENGTH` characters and magnitude below 10**18: anything else is
    an :class:`InvalidRequest` naming the field."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRequest(f"field {field!r} must be a decimal number")
    text = str(value).strip()
    if len(text) > MAX_NUMBER_LENGTH:
        raise InvalidRequest(f"field {field!r}: {text[:MAX_NUMBER_LENGTH]!r}... is out of range "
                             f"(a number of at most {MAX_NUMBER_LENGTH} characters)")
    try:
        return _plain_decimal(text)
    except ValueError as exc:
        raise InvalidRequest(f"field {field!r}: {value!r} {exc}") from None


@lru_cache(maxsize=1024)
def _plain_decimal(text: str) -> str:
    """``text`` (at most MAX_NUMBER_LENGTH characters) as a plain decimal string; ValueError saying
    why when it is not a decimal number in range (cached: prices repeat)."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError("is not a decimal number")
    number = Decimal(text)  # cannot fail: the pattern above is Decimal's finite syntax in ASCII
    exponent = number.as_tuple().exponent
    if number.adjusted() >= MAX_DECIMAL_EXPONENT or (isinstance(exponent, int) and exponent < -MAX_DECIMAL_EXPONENT):
        raise ValueError(f"is out of range (below 1e{MAX_DECIMAL_EXPONENT}, "
                         f"at most {MAX_DECIMAL_EXPONENT} decimal places)")
    return format(number, "f")


def integer(value: str, *, field: str, digits: int = MAX_INTEGER_DIGITS, what: str = "") -> int:
    """A code or count written in ASCII digits (an optional sign, at most ``digits`` digits): the
    int, or :class:`InvalidRequest` naming the field. ``int()`` alone reads fullwidth and Arabic-Indic digits as
    numbers and spends quadratic time on thousands of digits."""
    text = value.strip()
    if len(text) > digits + 1 or not _INTEGER.fullmatch(text) or len(text.lstrip("+-")) > digits:
        what = what or f"an integer of at most {digits} ASCII digits"
        raise InvalidRequest(f"field {field!r}: {value[:digits + 2]!r} is not {what}")
    return int(text)


def first_word(text: str | None) -> str | None:
    """The keyword of an inbound text: its first word, upper-cased."""
    if not text:
        return None
    words = text.split(maxsplit=1)
    return words[0].upper() if words else None
