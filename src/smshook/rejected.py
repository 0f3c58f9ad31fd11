"""The rejected-requests log: callbacks whose authenticity check failed (bad or missing signature,
stale timestamp, wrong in-body credentials).

They are answered 401/403 and never stored as events, but operators need to see them: a mis-set
``public_url`` (scheme, host, port or path prefix differing from what the provider signed) is the
usual cause. Each entry keeps the reason, the URL the signature was checked against and the
request *masked*: secret-looking headers, query and body fields are replaced by ``***``, and the
body is cut at :data:`MAX_BODY` bytes. Identical requests count attempts on one entry; the log
keeps the newest :data:`KEEP` entries. Read it with ``GET /v1/rejected`` or the dashboard.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson

from smshook.events import uuid7
from smshook.privacy import SECRET_HEADERS
from smshook.providers.base import RawRequest

MAX_BODY = 8192
KEEP = 10_000
MASK = "***"
# Field and header names whose values are masked (case-insensitive substrings).
_SECRETISH = re.compile(r"pin|pass|secret|token|auth|key|sig|jwt|cookie|credential", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """One rejected request, already masked."""

    id: str
    digest: bytes  # identical requests (connection, method, path, query, body) share it
    connection: str
    provider: str
    reason: str  # signature | missing | stale | credentials | verify_error
    message: str
    http_status: int
    url: str  # the URL the signature was checked against (query masked)
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: str
    body_truncated: bool
    client: str | None
    received_at: str

    def headers_json(self) -> str:
        return orjson.dumps([list(h) for h in self.headers]).decode()


def _masked_value(name: str, value: str) -> str:
    if not _SECRETISH.search(name):
        return value
    return f"{value[:6]}…{MASK}" if len(value) > 12 and "signature" in name.lower() else MASK


def mask_pairs(text: str) -> str:
    """A query string or form body with the values of secret-looking fields replaced by ``***``;
    every other byte as received."""
    parts = text.split("&")
    for i, part in enumerate(parts):
        name, sep, _ = part.partition("=")
        if sep and _SECRETISH.search(unquote_plus(name)):
            parts[i] = f"{name}={MASK}"
    return "&".join(parts)


def mask_body(request: RawRequest) -> tuple[str, bool]:
    body = request.body[:MAX_BODY]
    text = body.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(data, dict):
                masked = {k: MASK if _SECRETISH.search(k) else v for k, v in data.items()}
                text = orjson.dumps(masked).decode()[:MAX_BODY]
    elif "=" in text and not stripped.startswith("<"):
        text = mask_pairs(text)
    return text, len(request.body) > MAX_BODY


def record(connection: str, provider: str, request: RawRequest, reason: str, message: str, status: int,
           received_at: str, path: str, token: str | None = None) -> RejectedRecord:
    """The log entry for a refused request (``path`` with any URL token already masked; ``token``
    masked in the URL)."""
    headers = tuple((k, MASK if k in SECRET_HEADERS else _masked_value(k, v)) for k, v in request.headers)
    query = mask_pairs(request.query.decode("latin-1"))
    url, sep, url_query = request.url.partition("?")
    if token:
        url = url.replace(token, MASK)
    if sep:
        url = f"{url}?{mask_pairs(url_query)}"
    body, truncated = mask_body(request)
    digest = hashlib.sha256(b"\0".join([connection.encode(), request.method.encode(), request.path.encode(),
                                        request.query, request.body])).digest()
    return RejectedRecord(uuid7(), digest, connection, provider, reason, message[:500], status, url, request.method,
                          path, query, headers, body, truncated, request.client, received_at)


def row_view(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the API shows it."""
    headers = row.pop("headers")
    row["request"] = {"method": row.pop("method"), "url": row.pop("url"), "path": row.pop("path"),
                      "query": row.pop("query"), "headers": orjson.loads(headers) if isinstance(headers, str | bytes)
                      else headers, "body": row.pop("body"), "body_truncated": bool(row.pop("body_truncated")),
                      "client": row.pop("client")}
    return row


# -- storage helpers shared by both backends --------------------------------------------------------

REJECTED_COLUMNS = ("id, digest, connection, provider, reason, message, http_status, attempts, first_seen, "
                    "last_seen, url, method, path, query, headers, body, body_truncated, client")


def rejected_row(entry: RejectedRecord, *, nul_free: bool = False) -> tuple[Any, ...]:
    """The INSERT values of an entry, every column but ``attempts`` (PostgreSQL: no NUL in text)."""
    def text(value: str) -> str:
        return value.replace("\x00", "\ufffd") if nul_free else value

    return (entry.id, entry.digest, text(entry.connection), entry.provider, entry.reason, text(entry.message),
            entry.http_status, entry.received_at, entry.received_at, text(entry.url), text(entry.method),
            text(entry.path), text(entry.query), text(entry.headers_json()), text(entry.body), entry.body_truncated,
            entry.client)


def rejected_view(r: Any) -> dict[str, Any]:
    """A row (in :data:`REJECTED_COLUMNS` order) as the API shows it."""
    return row_view({
        "id": r[0], "connection": r[2], "provider": r[3], "reason": r[4], "message": r[5], "http_status": r[6],
        "attempts": r[7], "first_seen": r[8], "last_seen": r[9], "url": r[10], "method": r[11], "path": r[12],
        "query": r[13], "headers": r[14], "body": r[15], "body_truncated": r[16], "client": r[17],
    })
