"""The hook path: ``/hooks/{connection}`` and ``/hooks/{connection}/{token}``.

Plain ASGI, no framework: this is the hot path. For each request, in order:

1. connection lookup (404), source address against ``allow_ips`` (403; behind a proxy listed in
   ``trusted_proxies``, the address its ``X-Forwarded-For`` names), URL token (401),
   method (405), size (413, refused from ``Content-Length`` before reading, or as soon as the
   streamed body passes the limit);
2. ``adapter.verify`` on the raw request (its ``url`` the one the provider signed,
   :mod:`smshook.web.public_url`): a signature or in-body credentials that do not match -> the
   provider's 401/403, not stored as events, kept masked in the rejected-requests log
   (:mod:`smshook.rejected`) and counted (``smshook_rejected_total``);
   ``adapter.parse`` -> events; an unreadable body -> kept durably in the quarantine, then a 4xx
   naming the problem;
3. ``store.append`` -> one durable transaction (group commit), duplicates recognised;
4. ``adapter.acknowledge`` -> the provider's own answer, sent only after step 3 committed;
   if the store could not commit, the answer makes the provider retry (503).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any

from smshook import logs, rejected
from smshook.errors import AdapterFailure, AuthError, ProviderError, Refused, SignatureError, StoreError
from smshook.events import Event, finalize, stamp, uuid7
from smshook.lifecycle import optouts
from smshook.lifecycle.options import DEFAULT_OPTIONS, LifecycleOptions
from smshook.metrics import UNKNOWN, HookMeters, Metrics
from smshook.privacy import SECRET_HEADERS
from smshook.providers import formats
from smshook.providers import get as get_provider
from smshook.providers.base import ConnectionInfo, Outcome, Parsed, Provider, RawRequest, Response, context_of
from smshook.storage.base import RawRecord, Store
from smshook.web.public_url import request_url

if TYPE_CHECKING:
    from smshook.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger("smshook.hooks")
access_log = logging.getLogger("smshook.access")
PREFIX = "/hooks/"
# The per-request CPU guard: a body over BIG_BODY bytes is verified and parsed (and its events stamped)
# in a worker thread, so the event loop keeps serving other clients meanwhile (the GIL hands it the CPU
# every few milliseconds); smaller bodies, nearly every real callback, take the inline fast path, where a
# thread hop would cost more than the parse. A valid 1 MiB batch takes ~0.1-0.5 s to parse (README,
# "Limits"). At most BIG_PARSES such parses run at once (a flood of big bodies cannot pile up threads
# or memory); a request that waits more than BIG_PARSE_WAIT seconds for its turn gets the provider's
# retry-later answer (nothing stored, as when the store is down).
BIG_BODY = 32 * 1024
BIG_PARSES = 2
BIG_PARSE_WAIT = 10.0
REFUSED = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
           413: "too_large"}


class AllowList:
    """IP networks a source address must fall in: a connection's ``allow_ips`` and the server's
    ``trusted_proxies`` both. Addresses are read as proxies write them (:func:`_ip`: with a port, in
    brackets, IPv4-mapped IPv6); the answers are memoised per address, so a few providers' and proxies'
    addresses are parsed once, not on every request. Empty: it contains nothing (false as a bool)."""

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks = tuple(networks)
        self.contains = functools.lru_cache(maxsize=1024)(self._contains)

    def _contains(self, address: str | None) -> bool:
        ip = _ip(address) if address else None
        return ip is not None and any(ip in net for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __iter__(self) -> Iterator[Network]:
        return iter(self.networks)


@dataclass(frozen=True, repr=False)
class Connection:
    """A configured connection as the request path (hooks, re-processing, the API, the CLI) uses it:
    plain values, secrets revealed (its repr masks them; keep it out of logs anyway). Built from the
    configuration model :class:`smshook.settings.Connection` by :func:`connections_from`; ``info`` is
    the part the adapter sees (providers cannot depend on this layer)."""

    name: str
    provider: Provider
    info: ConnectionInfo
    token: str | None = None
    allow_ips: AllowList = field(default_factory=AllowList)  # empty: any source address
    authenticated: bool = False  # whether a stranger is kept out: the setting's own rule
    lifecycle: LifecycleOptions = DEFAULT_OPTIONS  # link_window, final_within, opt-out keywords

    def __repr__(self) -> str:  # never the token or the provider's secrets
        token = "***" if self.token else None
        return (f"Connection(name={self.name!r}, provider={self.provider.slug!r}, token={token!r}, "
                f"allow_ips={[str(n) for n in self.allow_ips]}, authenticated={self.authenticated})")

    def describe(self) -> dict[str, Any]:
        """How providers reach this connection and how it is protected, never its secrets (``path`` ends
        in ``/<token>`` where the URL carries one): ``GET /v1/connections`` and ``smshook connections``."""
        provider = self.provider
        protection = [kind for kind, on in (("token", self.token is not None), ("allow_ips", bool(self.allow_ips)),
                                            (provider.auth_kind, provider.authenticated(self.info))) if on]
        return {"connection": self.name, "provider": provider.slug, "provider_name": provider.name,
                "path": f"{PREFIX}{self.name}" + ("/<token>" if self.token is not None else ""),
                "methods": sorted(provider.methods), "authenticated": self.authenticated, "protection": protection,
                "allow_ips": [str(net) for net in self.allow_ips], "docs_url": provider.docs_url or None,
                "public_url": _masked_url(self.info.public_url, self.token)}

    def ip_allowed(self, address: str | None) -> bool:
        """Whether a request from ``address`` passes the IP allow-list (always, when there is none)."""
        return not self.allow_ips or self.allow_ips.contains(address)


def _masked_url(url: str | None, token: str | None) -> str | None:
    return url.replace(token, "<token>") if url and token else url


def connections_from(settings: Settings) -> dict[str, Connection]:
    """The configured connections, ready for the request path (and for describing them)."""
    out: dict[str, Connection] = {}
    for name, conf in settings.connections.items():
        out[name] = Connection(name=name, provider=get_provider(conf.provider), info=conf.info(name),
                               token=conf.token.get_secret_value() if conf.token else None,
                               allow_ips=AllowList(conf.allow_ips), authenticated=conf.authenticated,
                               lifecycle=conf.lifecycle())
    return out


def verify_request(connection: Connection, request: RawRequest) -> None:
    """The provider's authenticity check on the raw request (hook path only: a quarantined request
    passed it when it arrived). Raises :class:`SignatureError`; an adapter bug refuses too."""
    try:
        connection.provider.verify(request, connection.info)
    except SignatureError:
        raise
    except AuthError as exc:
        raise SignatureError(exc.message, reason="credentials", status=exc.status) from exc
    except Exception as exc:  # an adapter bug: never let an unchecked request through
        log.exception("adapter %s failed verifying a request to %s", connection.provider.slug, connection.name)
        raise SignatureError(f"could not check this request's signature ({type(exc).__name__})",
                             reason="verify_error") from exc


def parse_events(connection: Connection, request: RawRequest, received: datetime) -> list[Event]:
    """The events of one request, stamped (:func:`~smshook.events.finalize`): the one parse step of the
    hook path and of re-processing a quarantined request. Raises :class:`AuthError`,
    :class:`InvalidRequest`, or :class:`AdapterFailure` when the adapter raised anything else.
    The adapter's :class:`Parsed` context survives: the result is a :class:`Parsed` carrying it."""
    provider = connection.provider
    try:
        events = provider.parse(request, connection.info)
    except ProviderError:
        raise
    except Exception as exc:  # an adapter bug: keep the request, tell the provider clearly
        log.exception("adapter %s failed on a request to %s", provider.slug, connection.name)
        raise AdapterFailure(f"could not process this request ({type(exc).__name__}); it was kept "
                             "for re-processing") from exc
    events += optouts.derive(events, connection.lifecycle)  # STOP / START: optout / optin events
    stamped = finalize(events, connection.name, provider.slug, received)
    return Parsed(stamped, events.context) if isinstance(events, Parsed) else stamped


def verify_and_parse(connection: Connection, request: RawRequest, received: datetime) -> list[Event]:
    """:func:`verify_request` then :func:`parse_events`: the CPU-bound part of the hook path."""
    verify_request(connection, request)
    return parse_events(connection, request, received)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``), or None."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return (ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else ip


def _client_behind(peer: str, forwarded: bytes, trusted: AllowList) -> str:
    client = peer
    for hop in reversed(forwarded.decode("latin-1").split(",")):
        ip = _ip(hop)
        if ip is None:
            return peer
        client = str(ip)
        if not trusted.contains(client):
            break
    return client


class TrustedProxies(AllowList):
    """``trusted_proxies``: the peers whose ``X-Forwarded-For`` is believed, and the client behind them."""

    def __init__(self, networks: Iterable[Network]) -> None:
        super().__init__(networks)
        self._behind = functools.lru_cache(maxsize=4096)(self._client_behind)

    def _client_behind(self, peer: str, forwarded: bytes) -> str:
        return _client_behind(peer, forwarded, self)

    def client(self, peer: str, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """The client behind trusted proxies, for a request whose TCP peer is one of them (:meth:`contains`).

        ``X-Forwarded-For`` (every such header, in order) is read from the right: each hop that is itself
        a trusted proxy is skipped, the first one that is not is the client (all trusted: the left-most).
        Only the hops our own proxies appended are believed, so a client cannot forge its address by
        sending the header itself. No header, or an unreadable hop on the way: the peer.
        """
        values = [value for key, value in headers if key == b"x-forwarded-for"]
        return self._behind(peer, b",".join(values)) if values else peer


class Exchange:
    """What one hook request came to, for the metrics and the access log."""

    __slots__ = ("duplicates", "events", "outcome", "request_id")

    def __init__(self) -> None:
        self.outcome = "bad_request"
        self.events = 0  # new events stored
        self.duplicates = 0
        self.request_id: str | None = None  # the stored raw request's id (none when refused before parsing)


class HookApp:
    def __init__(self, connections: dict[str, Connection], store: Store, *, max_body: int = 1 << 20,
                 trusted_proxies: tuple[Network, ...] = (), metrics: Metrics | None = None,
                 on_queued: Callable[[], None] | None = None) -> None:
        self.connections = connections
        self.on_queued = on_queued  # called when a request's commit queued deliveries (wakes the dispatcher)
        self.store = store
        self.max_body = max_body
        self.trusted_proxies = TrustedProxies(trusted_proxies) if trusted_proxies else None
        self.metrics = metrics or Metrics(connections, process=False)
        self._unknown = self.metrics.hook_meters(UNKNOWN)
        self._big_parses = asyncio.Semaphore(BIG_PARSES)  # the CPU guard's slots (see BIG_BODY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = perf_counter()
        received = datetime.now(UTC)
        meters = self._unknown
        connection: Connection | None = None
        ex = Exchange()
        client = scope.get("client")
        if self.trusted_proxies is not None and client and self.trusted_proxies.contains(client[0]):
            scope["client"] = (self.trusted_proxies.client(client[0], scope["headers"]), client[1])
            scope["smshook.trusted_peer"] = True  # its X-Forwarded-Proto/Host/Prefix are believed too
        try:
            connection, token_in_path = self._route(scope)
            meters = self.metrics.hook_meters(connection.name)
            body = await self._read_body(scope, receive)
            response, ex.outcome = await self._handle(connection, scope, body, received, token_in_path, ex, meters)
        except Refused as refused:
            response = Response(refused.status, str(refused).encode() + b"\n", headers=refused.headers)
            ex.outcome = REFUSED.get(refused.status, "bad_request")
            if connection is None:  # refused by _route: still count it under the connection it named
                connection = self.connections.get(scope["path"][len(PREFIX):].partition("/")[0])
                meters = self.metrics.hook_meters(connection.name) if connection else self._unknown
        try:
            await _respond(send, response)
        finally:
            seconds = perf_counter() - started
            meters.request(ex.outcome, seconds)
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, connection, response.status, ex, seconds)

    def _route(self, scope: Scope) -> tuple[Connection, bool]:
        parts = scope["path"][len(PREFIX):].split("/")
        if len(parts) > 1 and parts[-1] == "":  # a trailing slash, as some portals keep it (Plivo signs it)
            parts.pop()
        if len(parts) > 2 or not parts[0]:
            raise Refused(404, "no such hook: use /hooks/<connection>")
        connection = self.connections.get(parts[0])
        if connection is None:
            raise Refused(404, f"unknown connection {parts[0]!r}")
        client = scope.get("client")
        if not connection.ip_allowed(client[0] if client else None):
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
            if not message.get("more_body", False):
                if not chunks and type(chunk) is bytes:  # the whole body in one message: the usual case
                    return chunk
                chunks.append(chunk)
                return b"".join(chunks)
            chunks.append(chunk)

    async def _handle(self, connection: Connection, scope: Scope, body: bytes, received: datetime,
                      token_in_path: bool, ex: Exchange, meters: HookMeters) -> tuple[Response, str]:
        provider = connection.provider
        headers = tuple([(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]])
        client = scope.get("client")
        url = request_url(scope, connection.info.public_url, scope.get("smshook.trusted_peer", False))
        request = RawRequest(scope["method"], scope["path"], scope.get("query_string", b""), headers, body,
                             client[0] if client else None, url, received)
        try:
            if len(body) > BIG_BODY:
                try:
                    events = await self._parse_aside(connection, request, received)
                except TimeoutError:
                    log.warning("too many large requests at once: answered a %d-byte request to %s with "
                                "retry-later", len(body), connection.name)
                    return provider.acknowledge(request, Outcome([], stored=False)), "busy"
            else:
                events = verify_and_parse(connection, request, received)
        except AuthError as exc:
            return await self._rejected(connection, request, received, token_in_path, exc, meters)
        except AdapterFailure as exc:
            return await self._quarantine(connection, request, received, token_in_path, exc, ex, "adapter_error")
        except ProviderError as exc:
            return await self._quarantine(connection, request, received, token_in_path, exc, ex)

        record = _record(connection, request, received, token_in_path)
        ex.request_id = record.id
        try:
            result = await self.store.append(record, events)
        except StoreError as exc:
            log.error("store could not commit a request to %s: %s", connection.name, exc)
            return provider.acknowledge(request, Outcome(events, False, context=context_of(events))), \
                "store_unavailable"
        meters.stored(events, result.new)
        if result.queued and self.on_queued is not None:
            self.on_queued()
        ex.events = new = result.new_count
        ex.duplicates = duplicates = len(result.new) - new
        outcome = Outcome(events, True, new, duplicates, context_of(events))
        return provider.acknowledge(request, outcome), "duplicate" if events and not new else "accepted"

    async def _parse_aside(self, connection: Connection, request: RawRequest, received: datetime) -> list[Event]:
        """:func:`verify_and_parse` in a worker thread, one of at most :data:`BIG_PARSES`; raises
        TimeoutError when no slot frees up within :data:`BIG_PARSE_WAIT` seconds."""
        async with asyncio.timeout(BIG_PARSE_WAIT):
            await self._big_parses.acquire()
        try:
            return await asyncio.to_thread(verify_and_parse, connection, request, received)
        finally:
            self._big_parses.release()

    async def _rejected(self, connection: Connection, request: RawRequest, received: datetime,
                        token_in_path: bool, error: AuthError, meters: HookMeters) -> tuple[Response, str]:
        """A request refused by the provider's check: its answer, the log entry, the counter."""
        reason = error.reason if isinstance(error, SignatureError) else "credentials"
        meters.reject(reason)
        path = f"{PREFIX}{connection.name}/***" if token_in_path else request.path
        entry = rejected.record(connection.name, connection.provider.slug, request, reason, error.message,
                                error.status, stamp(received) or "", path, connection.token)
        try:
            await self.store.record_rejected(entry)
        except StoreError as exc:  # the answer is the same: the log is for operators
            log.error("could not keep a rejected request to %s: %s", connection.name, exc)
        log.warning("rejected a request to %s (%s): %s; checked against %s", connection.name, reason, error.message,
                    entry.url, extra={"connection": connection.name, "provider": connection.provider.slug,
                                      "reason": reason})
        outcome = "forbidden" if error.status == 403 else "unauthorized"
        return connection.provider.reject(request, error), outcome

    async def _quarantine(self, connection: Connection, request: RawRequest, received: datetime,
                          token_in_path: bool, error: ProviderError, ex: Exchange,
                          reason: str = "invalid_request") -> tuple[Response, str]:
        record = _record(connection, request, received, token_in_path)
        ex.request_id = record.id
        try:
            qid = await self.store.quarantine(record, error.message, error.status)
        except StoreError as exc:
            log.error("could not quarantine a request to %s: %s", connection.name, exc)
            return connection.provider.acknowledge(request, Outcome([], stored=False)), "store_unavailable"
        ex.request_id = qid  # a repeat of a quarantined request only counts an attempt on the first one
        self.metrics.hook_meters(connection.name).quarantine(reason)
        log.warning("quarantined %s on %s: %s", qid, connection.name, error.message,
                    extra={"connection": connection.name, "provider": connection.provider.slug,
                           "request_id": qid, "reason": reason})
        return connection.provider.reject(request, error), "quarantined"


def _record(connection: Connection, request: RawRequest, received: datetime, token_in_path: bool) -> RawRecord:
    path = f"{PREFIX}{connection.name}/***" if token_in_path else request.path
    secret = connection.provider.secret_fields  # in-body credentials (csoft's PIN): masked
    body = formats.mask_fields(request.body, secret) if secret else request.body
    query = formats.mask_fields(request.query, secret) if secret else request.query
    headers = request.headers
    for name, _ in headers:
        if name in SECRET_HEADERS:  # rare: build the tuple without them
            headers = tuple([(k, v) for k, v in request.headers if k not in SECRET_HEADERS])
            break
    return RawRecord(
        id=uuid7(), connection=connection.name, provider=connection.provider.slug, method=request.method,
        path=path, query=query.decode("latin-1"), headers=headers, body=body,
        client=request.client, received_at=stamp(received) or "",
    )


def _log_path(path: str) -> str:
    """The hook path as logged: never the token segment, never an unbounded stranger's string."""
    name, sep, _ = path[len(PREFIX):].partition("/")
    return f"{PREFIX}{name[:64]}" + ("/***" if sep else "")


def _log_access(scope: Scope, connection: Connection | None, status: int, ex: Exchange, seconds: float) -> None:
    client = scope.get("client")
    method, path, outcome = scope["method"], _log_path(scope["path"]), ex.outcome
    fields = {"events": ex.events, "duplicates": ex.duplicates, "latency_ms": round(seconds * 1000, 3),
              "request_id": ex.request_id, "client": client[0] if client else None}  # ours, or an address
    # the connection's name, not only the logged path: that cuts names at 64 characters
    key = (path, method, status, outcome, connection.name if connection else None)
    if not logs.fast_line(access_log, key, fields, _access_head, method, path, status, outcome, connection):
        msg, constant = _access_head(method, path, status, outcome, connection)
        access_log.info("%s", msg, extra={**constant, **fields})


def _access_head(method: str, path: str, status: int, outcome: str,
                 connection: Connection | None) -> tuple[str, dict[str, Any]]:
    """An access line's message and the fields shared by every line of its kind (see logs.fast_line)."""
    return f"{method} {path} {status} {outcome}", {
        "connection": connection.name if connection else UNKNOWN,
        "provider": connection.provider.slug if connection else None, "method": method, "path": path,
        "status": status, "outcome": outcome}


@functools.lru_cache(maxsize=64)
def _content_type(value: str) -> tuple[bytes, bytes]:
    return b"content-type", value.encode()


async def _respond(send: Send, response: Response) -> None:
    headers = [_content_type(response.content_type), (b"content-length", b"%d" % len(response.body))]
    if response.headers:
        headers += [(k.encode(), v.encode()) for k, v in response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
