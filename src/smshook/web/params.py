"""Query parameters shared by every ``/v1`` router: the API's error, times and cursors.

Every time parameter is an ISO 8601 string (a date, or a date and time; no zone: UTC), never a number,
with a UTC equivalent in years 1 to 9999; anything else is a 400 naming the parameter.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import Query
from pydantic import BaseModel, Field

from smshook import events
from smshook.errors import ApiError

MAX_LIMIT = 500  # the largest page of every listing

# What the OpenAPI document declares for values the handlers check themselves, so a schema-valid
# value is one the API accepts (tests/web/test_openapi_schemathesis.py holds it to that).
CURSOR = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"  # a next_cursor, or empty
# An empty value (``since=``, as an HTML form sends an empty field) is the same as an absent one.
WHEN_SCHEMA: dict[str, Any] = {"anyOf": [{"type": "string", "format": "date"},
                                         {"type": "string", "format": "date-time"},
                                         {"type": "string", "maxLength": 0}]}


def time_query(description: str) -> Any:
    """A time query parameter as every route declares it (an ISO 8601 string; see :func:`when`)."""
    return Query(description=f"ISO 8601, a date or a date and time (no zone: UTC); {description}",
                 max_length=64, json_schema_extra=WHEN_SCHEMA)


class ErrorBody(BaseModel):
    """Every 4xx answer of the API."""

    error: str = Field(description="What is wrong, naming the parameter")


def parsed(name: str, value: str | None) -> datetime | None:
    """The parameter as an aware UTC datetime; absent or empty: None."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApiError(400, f"{name}: {value!r} is not an ISO 8601 date or time "
                            "(e.g. 2026-03-01T12:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(400, f"{name}: {value!r} is out of range (years 1 to 9999 in UTC)") from None


def utc(name: str, value: datetime | None) -> str | None:
    """A datetime (a request body's field) as stored and compared (:func:`smshook.events.stamp`: UTC,
    fixed width, exact to the millisecond; naive is UTC), or 400 naming the parameter when it has no
    UTC equivalent (``0001-01-01T00:00:00+01:00``)."""
    if value is None:
        return None
    try:
        return events.stamp(value.replace(tzinfo=UTC) if value.tzinfo is None else value)
    except (OverflowError, ValueError):
        raise ApiError(400, f"{name}: {value.isoformat()} is out of range (years 1 to 9999 in UTC)") from None


def when(name: str, value: str | None) -> str | None:
    """An ISO 8601 query parameter as stored (UTC ISO 8601); absent or empty: None."""
    return utc(name, parsed(name, value))


def unix_time(name: str, value: str | None) -> float | None:
    """An ISO 8601 query parameter as a unix time (the deliveries' clock); absent or empty: None."""
    moment = parsed(name, value)
    return moment.timestamp() if moment is not None else None


def cursor(value: str | None) -> str | None:
    """A ``next_cursor`` of an event-like listing (a UUID); absent or empty (``cursor=``): the first page."""
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(400, f"cursor: {value!r} is not a cursor returned by this API") from None


def page(rows: list[dict[str, Any]], limit: int, key: str, *, more: bool = True) -> dict[str, Any]:
    """A listing's answer from ``limit + 1`` fetched rows: ``{"data": at most limit rows,
    "next_cursor": the last row's ``key`` when a further row exists, else null}``. ``more=False``: the
    listing has no further pages whatever was fetched."""
    data = rows[:limit]
    return {"data": data, "next_cursor": data[-1][key] if more and len(rows) > limit else None}
