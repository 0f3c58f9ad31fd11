"""The URL a provider called, as it signed it (:attr:`RawRequest.url <smshook.providers.base.RawRequest.url>`).

Providers that sign the URL (Twilio, Plivo, MessageBird, Vonage GET) sign the one configured in
their portal, which behind a proxy is not what the app server sees (scheme, host, port, path
prefix). In order:

1. the connection's ``public_url`` exactly as configured, without its own query and fragment,
   plus ``?`` and the query string exactly as received (no re-sorting, no re-encoding);
2. else, when the TCP peer is a trusted proxy, ``X-Forwarded-Proto://X-Forwarded-Host`` (or the
   ``Host`` header) ``X-Forwarded-Prefix`` + the raw path + the raw query (first value of each
   header: the proxy nearest the provider);
3. else the request as received: its scheme, ``Host`` header (or the server address), raw path
   and raw query.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any


def configured(public_url: str, query: bytes) -> str:
    """Rule 1: ``public_url`` without its query and fragment, plus the query as received."""
    base = public_url.split("#", 1)[0].split("?", 1)[0]
    return f"{base}?{query.decode('latin-1')}" if query else base


def _first(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1").split(",", 1)[0].strip() or None
    return None


def request_url(scope: MutableMapping[str, Any], public_url: str | None, trusted_peer: bool) -> str:
    """The URL to check signatures against for this ASGI request (rules in the module docstring)."""
    query: bytes = scope.get("query_string", b"")
    if public_url:
        return configured(public_url, query)
    headers = scope["headers"]
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    scheme = scope.get("scheme", "http")
    host = _first(headers, b"host")
    prefix = ""
    if trusted_peer:
        scheme = _first(headers, b"x-forwarded-proto") or scheme
        host = _first(headers, b"x-forwarded-host") or host
        prefix = (_first(headers, b"x-forwarded-prefix") or "").rstrip("/")
    if host is None:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    url = f"{scheme}://{host}{prefix}{path}"
    return f"{url}?{query.decode('latin-1')}" if query else url
