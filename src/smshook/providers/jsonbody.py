"""Shared reading of JSON callback bodies (Telnyx, Sinch, Infobip): objects, lists, strings,
numbers and ISO 8601 times, each failure an :class:`~smshook.errors.InvalidRequest` naming the path
of the field (``results[2].status``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from smshook.errors import InvalidRequest


def load(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (a leading UTF-8 BOM is ignored)."""
    if not body.strip():
        raise InvalidRequest("empty body: expected a JSON object")
    try:
        data = orjson.loads(body.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"expected a JSON object, got a JSON {_kind(data)}")
    return data


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number" if
                                                                             isinstance(value, int | float)
                                                                             else "null")


def obj(data: dict[str, Any], name: str, path: str = "", *, required: bool = False) -> dict[str, Any]:
    """``data[name]`` as an object (``{}`` when absent and not required)."""
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"missing field {path + name!r}")
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"field {path + name!r} must be an object, not a JSON {_kind(value)}")
    return value


def array(data: dict[str, Any], name: str, path: str = "", *, required: bool = False) -> list[Any]:
    """``data[name]`` as a list (``[]`` when absent and not required)."""
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"missing field {path + name!r}")
        return []
    if not isinstance(value, list):
        raise InvalidRequest(f"field {path + name!r} must be an array, not a JSON {_kind(value)}")
    return value


def text(data: dict[str, Any], name: str, path: str = "", *, required: bool = False) -> str | None:
    """``data[name]`` as a string; numbers are read as their digits; ``None`` when absent or empty."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidRequest(f"missing field {path + name!r}")
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidRequest(f"field {path + name!r} must be a string, not a JSON {_kind(value)}")


def time(data: dict[str, Any], name: str, path: str = "") -> datetime | None:
    """``data[name]``, an ISO 8601 time with a zone (``Z``, ``+00:00`` or ``+0000``), in UTC; a time
    without a zone is read as UTC. ``None`` when absent."""
    value = text(data, name, path)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"field {path + name!r}: {value[:64]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def items(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """``data[name]``, an array of objects (each checked)."""
    values = array(data, name, required=True)
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise InvalidRequest(f"{name}[{index}]: expected an object, not a JSON {_kind(value)}")
    return values
