"""Registering a sent message (``POST /v1/messages``, ``smshook register``): validation and
comparison, pure. The database side is :func:`smshook.lifecycle.store.register`.

A registration is ``{"connection", "message_id", "to", "from"?, "reference"?, "parts"?, "sent_at"?,
"metadata"?}``. The same registration sent again is idempotent (200); one that differs in any field
it gives is a conflict (409, naming the fields), and so is a part already linked to another message.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from smshook.events import shown, stamp
from smshook.providers import formats

MAX_BATCH = 1000  # registrations per request
MAX_METADATA = 4096  # bytes of metadata, as compact JSON
MAX_PARTS = 255  # an SMS concatenation header counts parts in one byte
MAX_ID = 255  # characters of a message id, part id or reference
MAX_INTEGER = (1 << 53) - 1  # an id given as a JSON number: exact in every JSON reader (larger: a string)
FIELDS = ("connection", "message_id", "to", "from", "reference", "parts", "sent_at", "metadata")


class RegistrationError(ValueError):
    """A registration that cannot be accepted; the message names the field."""


@dataclass(frozen=True, slots=True)
class Registration:
    connection: str
    message_id: str
    to: str
    from_: str | None = None
    reference: str | None = None
    parts: tuple[str, ...] = ()
    sent_at: str = ""
    sent_at_given: bool = False
    metadata: dict[str, Any] | None = None
    registered_at: str = ""

    @property
    def tracked(self) -> tuple[str, ...]:
        """The provider ids whose receipts tell this message's status: its parts, else its own id."""
        return self.parts or (self.message_id,)

    def public(self) -> dict[str, Any]:
        return {"connection": self.connection, "message_id": self.message_id, "to": self.to, "from": self.from_,
                "reference": self.reference, "parts": list(self.parts), "sent_at": shown(self.sent_at),
                "metadata": self.metadata, "registered_at": shown(self.registered_at)}


def _integer(name: str, value: Any) -> Any:
    """An id given as a JSON integer (``5``, or ``5.0``: the same number) as its string; other numbers are
    refused (beyond 2**53 - 1 they are not exact in JSON: send such an id as a string); anything else as given."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if (isinstance(value, float) and not value.is_integer()) or abs(value) > MAX_INTEGER:
        raise RegistrationError(f"{name}: a number here must be a whole number between -{MAX_INTEGER} and "
                                f"{MAX_INTEGER} (send a larger id as a string)")
    return str(int(value))


def _text(item: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = item.get(name)
    if value is None:
        if required:
            raise RegistrationError(f"{name}: required")
        return None
    value = _integer(name, value)
    if not isinstance(value, str) or not value.strip():
        raise RegistrationError(f"{name}: must be a non-empty string")
    if len(value) > MAX_ID:
        raise RegistrationError(f"{name}: longer than {MAX_ID} characters")
    return value.strip()


# -- what parse() accepts, as JSON Schema (POST /v1/messages in the OpenAPI document) ---------------
NOT_BLANK = f"[^{formats.BLANKS}]"  # something left after str.strip()
_INTEGER: dict[str, Any] = {"type": "integer", "minimum": -MAX_INTEGER, "maximum": MAX_INTEGER}
_ID: dict[str, Any] = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": MAX_ID, "pattern": NOT_BLANK},
                                 _INTEGER]}
_TIME: dict[str, Any] = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"},
                                   {"type": "null"}],
                         "description": "When it was sent: ISO 8601 (no zone: UTC; a date: its midnight); "
                                        "default: when it is registered"}


def json_schema(connections: Collection[str] | None = None) -> dict[str, Any]:
    """One registration as :func:`parse` reads it (``connections``: the configured names, if any)."""
    connection: dict[str, Any] = (
        {"type": "string", "enum": sorted(connections)} if connections is not None
        else {"type": "string", "minLength": 1, "maxLength": MAX_ID, "pattern": NOT_BLANK})

    def nullable(schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"anyOf": [*schema["anyOf"], {"type": "null"}], "description": description}

    return {
        "type": "object", "additionalProperties": False, "required": ["connection", "message_id", "to"],
        "properties": {
            "connection": {**connection, "description": "The connection it was sent through"},
            "message_id": {**_ID, "description": "The provider's message id (a string, or a number)"},
            "to": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": MAX_ID, "pattern": formats.PHONE_PATTERN},
                             _INTEGER],
                   "description": "The recipient: +447700900123, 447700900123 or 00447700900123 (separators - ( ) "
                                  ". and spaces allowed)"},
            "from": nullable(_ID, "Our number or sender id"),
            "reference": nullable(_ID, "The application's own reference (GET /v1/messages?reference=)"),
            "parts": {"anyOf": [{"type": "array", "items": _ID, "minItems": 1, "maxItems": MAX_PARTS,
                                 "uniqueItems": True}, {"type": "null"}],
                      "description": "The provider ids of a multipart message's parts, each once (compared "
                                     "without surrounding blanks)"},
            "sent_at": _TIME,
            "metadata": {"anyOf": [{"type": "object"}, {"type": "null"}], "x-max-json-bytes": MAX_METADATA,
                         "description": f"Any JSON object, at most {MAX_METADATA} bytes (4 KiB) as compact JSON"},
        },
    }


def _time(value: Any) -> str:
    if not isinstance(value, str):
        raise RegistrationError("sent_at: must be an ISO 8601 time such as 2026-05-04T10:07:00Z")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RegistrationError(f"sent_at: {value!r} is not an ISO 8601 time such as 2026-05-04T10:07:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # read as UTC, like every time smshook shows
    try:
        return stamp(when.astimezone(UTC)) or ""
    except (OverflowError, ValueError):  # 0001-01-01T00:00:00+01:00 has no UTC equivalent
        raise RegistrationError(f"sent_at: {value!r} is out of range (years 1 to 9999 in UTC)") from None


def parse(item: Any, now: str, connections: Collection[str] | None = None) -> Registration:
    """One registration from its JSON form (``now``: ISO UTC, the default ``sent_at``); raises
    :class:`RegistrationError` naming the first field that is wrong."""
    if not isinstance(item, Mapping):
        raise RegistrationError("a registration must be a JSON object")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise RegistrationError(f"{unknown[0]}: unknown field (known: {', '.join(FIELDS)})")
    if item.get("connection") is not None and not isinstance(item["connection"], str):
        raise RegistrationError("connection: must be the name of a connection (a string)")
    if connections is not None and item.get("connection") is not None and item["connection"] not in connections:
        raise RegistrationError(f"connection: {item['connection']!r} is not a configured connection "
                                f"({', '.join(sorted(connections)) or 'none'})")
    connection = _text(item, "connection", required=True) or ""
    message_id = _text(item, "message_id", required=True) or ""
    to = formats.phone(_text(item, "to", required=True))
    if not to:
        raise RegistrationError("to: required")
    sender = _text(item, "from")
    parts: tuple[str, ...] = ()
    if item.get("parts") is not None:
        raw = item["parts"]
        if not isinstance(raw, list) or not raw:
            raise RegistrationError("parts: must be a non-empty list of the parts' provider message ids")
        if len(raw) > MAX_PARTS:
            raise RegistrationError(f"parts: more than {MAX_PARTS}")
        values = []
        for i, part in enumerate(raw):
            part = _integer(f"parts[{i}]", part)
            if not isinstance(part, str) or not part.strip() or len(part) > MAX_ID:
                raise RegistrationError(f"parts[{i}]: must be a non-empty string of at most {MAX_ID} characters")
            values.append(part.strip())
        if len(set(values)) != len(values):
            raise RegistrationError("parts: the same id twice")
        parts = tuple(values)
    metadata = item.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise RegistrationError("metadata: must be a JSON object")
        size = len(orjson.dumps(metadata))
        if size > MAX_METADATA:
            raise RegistrationError(f"metadata: {size} bytes as JSON, more than the {MAX_METADATA} (4 KiB) allowed")
        metadata = dict(metadata)
    given = item.get("sent_at") is not None
    return Registration(
        connection=connection, message_id=message_id, to=to,
        from_=formats.phone(sender) if sender else None, reference=_text(item, "reference"), parts=parts,
        sent_at=_time(item["sent_at"]) if given else now, sent_at_given=given, metadata=metadata, registered_at=now,
    )


def differences(stored: Registration, new: Registration) -> list[str]:
    """The fields in which ``new`` contradicts ``stored`` (empty: the same registration again). A
    ``sent_at`` left out of the repeat is not compared (it defaulted to the time of each request)."""
    out = [name for name, a, b in (("to", stored.to, new.to), ("from", stored.from_, new.from_),
                                   ("reference", stored.reference, new.reference), ("parts", stored.parts, new.parts),
                                   ("metadata", stored.metadata, new.metadata)) if a != b]
    if new.sent_at_given and new.sent_at != stored.sent_at:
        out.append("sent_at")
    return out


def from_row(row: tuple[Any, ...]) -> Registration:
    """A ``registrations`` row (``ROW_COLUMNS``) as a :class:`Registration`."""
    connection, message_id, reference, to, sender, parts, sent_at, given, metadata, registered_at = row
    return Registration(connection, message_id, to, sender, reference, tuple(orjson.loads(parts)) if parts else (),
                        sent_at, bool(given), orjson.loads(metadata) if metadata else None, registered_at)


ROW_COLUMNS = ("connection, message_id, reference, recipient, sender, parts, sent_at, sent_at_given, metadata, "
               "registered_at")


def to_row(reg: Registration) -> tuple[Any, ...]:
    return (reg.connection, reg.message_id, reg.reference, reg.to, reg.from_,
            orjson.dumps(list(reg.parts)).decode() if reg.parts else None, reg.sent_at, int(reg.sent_at_given),
            orjson.dumps(reg.metadata).decode() if reg.metadata is not None else None, reg.registered_at)
