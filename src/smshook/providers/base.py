"""The provider adapter contract.

One module per provider, named by its slug, holding one :class:`Provider` subclass that is mostly
data: metadata, a status table, and two pure methods.

* :meth:`Provider.parse` turns a :class:`RawRequest` into a list of :class:`~smshook.events.Event`.
  It is pure (bytes in, events out): no web framework, no database, no network, no clock. It raises
  :class:`~smshook.errors.InvalidRequest` with a short message naming what is wrong, or
  :class:`~smshook.errors.AuthError` when in-body credentials (csoft) do not match.
* :meth:`Provider.acknowledge` turns the :class:`Outcome` of storing those events into the exact
  answer that provider expects (csoft ``tag=value`` echo, Webcom id list, Spryng ``TRUE`` ...),
  including the answer that makes the provider retry when the store could not commit.
* :meth:`Provider.reject` answers a request we refuse (bad input, bad credentials).

Adapters do not set ``id``, ``connection``, ``provider``, ``received_at`` or the idempotency key:
:func:`smshook.events.finalize` does. Shared decoding (form bodies, lenient JSON, safe XML, phone
numbers, timestamps) lives in :mod:`smshook.providers.formats`.

Adding a provider means one new module with a ``Provider`` subclass and one folder of test vectors
in ``tests/providers/vectors/<slug>/``; register it in ``BUILTIN`` (or, outside this repository,
through the ``smshook.providers`` entry-point group).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from smshook.errors import ProviderError
from smshook.events import Event, FailureClass

# raw code -> (unified status, failure class)
StatusTable = Mapping[str, tuple[str, FailureClass | None]]


@dataclass(frozen=True, slots=True)
class RawRequest:
    """An HTTP request as received, before any interpretation."""

    method: str
    path: str
    query: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()  # lower-cased names, in order
    body: bytes = b""
    client: str | None = None

    def header(self, name: str, default: str = "") -> str:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased (``""`` when absent)."""
        return self.header("content-type").split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What an adapter may know about the connection a request arrived on."""

    name: str
    provider: str
    options: Mapping[str, Any] = field(default_factory=dict)  # provider-specific (csoft username/pin...)
    timezone: str | None = None  # overrides Provider.timezone for naive provider timestamps


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a request's events. ``stored`` is False when the store could not commit:
    the answer must then make the provider retry."""

    events: list[Event]
    stored: bool = True
    new: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class Response:
    status: int = 200
    body: bytes = b"OK"
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


class Provider:
    """Base class of every adapter. Subclasses set the class constants and implement ``parse``."""

    slug: ClassVar[str]
    name: ClassVar[str]
    docs_url: ClassVar[str] = ""
    methods: ClassVar[frozenset[str]] = frozenset({"POST"})
    # Zone of the provider's naive timestamps (IANA name); a connection may override it.
    timezone: ClassVar[str] = "UTC"
    # Extra connection keys this provider understands (besides token, allow_ips, timezone).
    options: ClassVar[frozenset[str]] = frozenset()
    # raw code -> (unified status, failure class); unknown codes map to ("unknown", None).
    statuses: ClassVar[StatusTable] = {}

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        raise NotImplementedError

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        if not outcome.stored:
            return Response(503, b"store unavailable, retry later")
        return Response(200, b"OK")

    def reject(self, request: RawRequest, error: ProviderError) -> Response:
        return Response(error.status, error.message.encode() + b"\n")

    def setup(self, url: str) -> list[str]:
        """Lines to paste into the provider's own configuration for a connection reached at ``url``
        (Kannel's ``kannel.conf``), printed by ``smshook connections``; none by default."""
        return []

    # -- helpers for subclasses -------------------------------------------------------------------
    def status_of(self, code: str) -> tuple[str, FailureClass | None]:
        """Unified status and failure class for a raw code; unknown codes are ``unknown``."""
        return self.statuses.get(code, ("unknown", None))

    def zone(self, connection: ConnectionInfo) -> str:
        return connection.timezone or self.timezone

