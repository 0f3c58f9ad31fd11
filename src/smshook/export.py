"""Events as CSV or NDJSON, for `GET /v1/export/…`, the dashboard's download buttons and
``smshook events --format csv|ndjson``.

CSV: one header row of the public event fields (:data:`smshook.events.PUBLIC_FIELDS`), then one row per
event; ``network`` and ``details`` as JSON, absent values empty. A text cell that a spreadsheet would
run as a formula (starting with ``= + - @``, a tab or a carriage return, and not a number) gets a
leading ``'``. NDJSON: one event per line, exactly as the API returns it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import orjson

from smshook.events import PUBLIC_FIELDS

Format = Literal["csv", "ndjson"]
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_lines(events: Iterable[dict[str, Any]], header: bool = True) -> Iterator[str]:
    """CSV text, one line (ending in CRLF, as RFC 4180 says) per event, the header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(PUBLIC_FIELDS)
        yield buffer.getvalue()
    for event in events:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(event.get(name)) for name in PUBLIC_FIELDS])
        yield buffer.getvalue()


def ndjson_lines(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    for event in events:
        yield orjson.dumps(event).decode() + "\n"


def lines(events: Iterable[dict[str, Any]], fmt: Format, header: bool = True) -> Iterator[str]:
    return csv_lines(events, header) if fmt == "csv" else ndjson_lines(events)
