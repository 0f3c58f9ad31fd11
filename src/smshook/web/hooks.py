"""The hook path: ``/hooks/{connection}`` and ``/hooks/{connection}/{token}``.

Plain ASGI, no framework: this is the hot path. For each request, in order:

1. connection lookup (404), source address against ``allow_ips`` (403), URL token (401),
   method (405), size (413, refused from ``Content-Length`` before reading, or as soon as the
   streamed body passes the limit);
2. ``adapter.parse`` -> events; in-body credentials that do not match -> 401, not stored;
   an unreadable body -> kept durably in the quarantine, then a 4xx naming the problem;
3. ``store.append`` -> one durable transaction (group commit), duplicates recognised;
4. ``adapter.acknowledge`` -> the provider's own answer, sent only after step 3 committed;
   if the store could not commit, the answer makes the provider retry (503).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smshook.errors import AuthError, InvalidRequest, ProviderError, StoreError
from smshook.events import finalize, iso, uuid7
from smshook.providers.base import ConnectionInfo, Outcome, Provider, RawRequest, Response
from smshook.storage.base import SECRET_HEADERS, RawRecord, Store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger("smshook.hooks")
PREFIX = "/hooks/"


@dataclass(frozen=True)
class Connection:
    """A configured connection, ready for the request path."""

    name: str
    provider: Provider
    info: ConnectionInfo
    token: str | None = None
    allow_ips: tuple[Network, ...] = ()

    def allows(self, address: str | None) -> bool:
        if not self.allow_ips:
            return True
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.allow_ips)


class Refused(Exception):
    """A request refused before it reached the adapter (never stored)."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


class HookApp:
    def __init__(self, connections: dict[str, Connection], store: Store, *, max_body: int = 1 << 20) -> None:
        self.connections = connections
        self.store = store
        self.max_body = max_body
        # outcome counts per (connection, outcome), read by /metrics and tests
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.events_new = 0
        self.events_duplicate = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = datetime.now(UTC)
        name = "-"
        try:
            connection, token_in_path = self._route(scope)
            name = connection.name
            body = await self._read_body(scope, receive)
            response, outcome = await self._handle(connection, scope, body, received, token_in_path)
        except Refused as refused:
            response = Response(refused.status, str(refused).encode() + b"\n", headers=refused.headers)
            outcome = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                       413: "too_large"}.get(refused.status, "refused")
        self.outcomes[(name, outcome)] += 1
        await _respond(send, response)

    def _route(self, scope: Scope) -> tuple[Connection, bool]:
        parts = scope["path"][len(PREFIX):].split("/")
        if len(parts) > 2 or not parts[0]:
            raise Refused(404, "no such hook: use /hooks/<connection>")
        connection = self.connections.get(parts[0])
        if connection is None:
            raise Refused(404, f"unknown connection {parts[0]!r}")
        client = scope.get("client")
        if not connection.allows(client[0] if client else None):
            raise Refused(403, f"source address {client[0] if client else '?'} is not allowed "
                               f"for connection {connection.name!r}")
        given = parts[1] if len(parts) == 2 else None
        if connection.token is not None:
            if given is None or not hmac.compare_digest(given.encode(), connection.token.encode()):
                raise Refused(401, f"missing or wrong token for connection {connection.name!r}")
        elif given is not None:
            raise Refused(404, f"connection {connection.name!r} has no token: use /hooks/{connection.name}")
        if scope["method"] not in connection.provider.methods:
            allowed = ", ".join(sorted(connection.provider.methods))
            raise Refused(405, f"{connection.provider.name} callbacks use {allowed}, not {scope['method']}",
                          (("allow", allowed),))
        return connection, given is not None

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise Refused(400, "Content-Length is not a number") from None
                if declared > self.max_body:
                    raise Refused(413, f"body of {declared} bytes is over the {self.max_body}-byte limit")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Refused(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise Refused(413, f"body is over the {self.max_body}-byte limit")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _handle(self, connection: Connection, scope: Scope, body: bytes, received: datetime,
                      token_in_path: bool) -> tuple[Response, str]:
        provider = connection.provider
        headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"])
        client = scope.get("client")
        request = RawRequest(scope["method"], scope["path"], scope.get("query_string", b""), headers, body,
                             client[0] if client else None)
        try:
            events = provider.parse(request, connection.info)
        except AuthError as exc:
            return provider.reject(request, exc), "unauthorized"
        except ProviderError as exc:
            return await self._quarantine(connection, request, received, token_in_path, exc), "quarantined"
        except Exception as exc:  # an adapter bug: keep the request, tell the provider clearly
            log.exception("adapter %s failed on a request to %s", provider.slug, connection.name)
            error = InvalidRequest(f"could not process this request ({type(exc).__name__}); it was kept "
                                   "for re-processing", status=422)
            return await self._quarantine(connection, request, received, token_in_path, error), "quarantined"

        finalize(events, connection.name, provider.slug, received)
        record = _record(connection, request, received, token_in_path)
        try:
            result = await self.store.append(record, events)
        except StoreError as exc:
            log.error("store could not commit a request to %s: %s", connection.name, exc)
            return provider.acknowledge(request, Outcome(events, stored=False)), "store_error"
        self.events_new += result.new_count
        self.events_duplicate += result.duplicates
        outcome = Outcome(events, True, result.new_count, result.duplicates)
        return provider.acknowledge(request, outcome), "accepted"

    async def _quarantine(self, connection: Connection, request: RawRequest, received: datetime,
                          token_in_path: bool, error: ProviderError) -> Response:
        try:
            qid = await self.store.quarantine(_record(connection, request, received, token_in_path),
                                              error.message, error.status)
        except StoreError as exc:
            log.error("could not quarantine a request to %s: %s", connection.name, exc)
            return connection.provider.acknowledge(request, Outcome([], stored=False))
        log.warning("quarantined %s on %s: %s", qid, connection.name, error.message)
        return connection.provider.reject(request, error)


def _record(connection: Connection, request: RawRequest, received: datetime, token_in_path: bool) -> RawRecord:
    path = f"{PREFIX}{connection.name}/***" if token_in_path else request.path
    headers = tuple((k, v) for k, v in request.headers if k not in SECRET_HEADERS)
    return RawRecord(
        id=uuid7(), connection=connection.name, provider=connection.provider.slug, method=request.method,
        path=path, query=request.query.decode("latin-1"), headers=headers, body=request.body,
        client=request.client, received_at=iso(received) or "",
    )


async def _respond(send: Send, response: Response) -> None:
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(response.body)).encode()),
        *((k.encode(), v.encode()) for k, v in response.headers),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
