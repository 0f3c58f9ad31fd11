"""The provider adapter contract: a provider is one module.

One module per provider, named by its slug, holding one :class:`Provider` subclass that is mostly
data — metadata, the connection keys it understands, a status table — and a few pure methods,
called in this order on every callback:

1. :meth:`Provider.verify` checks authenticity on the *raw* request before anything is parsed: a
   signature (over :attr:`RawRequest.url`, headers and raw body bytes) or in-body credentials
   (csoft). It raises :class:`~smshook.errors.SignatureError` (401/403): the request is answered
   with :meth:`Provider.reject`, never stored as events, counted in
   ``smshook_rejected_total{connection,reason}`` and kept, masked, in the rejected-requests log
   (``GET /v1/rejected``, the dashboard). The default accepts everything.
2. :meth:`Provider.parse` turns the request into :class:`~smshook.events.Event` objects. It is pure
   (bytes in, events out): no web framework, no database, no network, no clock. It returns a list,
   or a :class:`Parsed` (a list that also carries a provider-defined ``context``: whatever the
   answer needs, e.g. csoft's ``MessageIdentifier``). It raises
   :class:`~smshook.errors.InvalidRequest` with a short message naming what is wrong.
3. :meth:`Provider.acknowledge` turns the :class:`Outcome` of storing those events into the exact
   answer that provider expects (csoft ``tag=value`` echo, Twilio TwiML ``<Response/>``, Spryng
   ``TRUE`` ...), including the answer that makes the provider retry when the store could not
   commit. ``outcome.events`` and ``outcome.context`` are what ``parse`` returned: the body is
   never read again to build the answer.
4. :meth:`Provider.reject` answers a request we refuse (bad signature, bad input).

Connection keys: :attr:`Provider.options` declares, as a tuple of :class:`Option`, the keys a
``[connections.NAME]`` table may carry for this provider besides the common ones (``provider``,
``token``, ``allow_ips``, ``timezone``, ``public_url``, ``retention``, and the message lifecycle's
``link_window``, ``final_within``, ``stop_keywords``, ``start_keywords``, ``help_keywords``). The
settings validate every table against that declaration (unknown key, wrong type, missing required
key, part of a :attr:`Provider.together` group without the rest: start-up stops naming the key) and
mask ``secret`` options everywhere (repr, ``smshook config``, ``smshook connections``, logs). The
adapter reads the validated values from :attr:`ConnectionInfo.options` (defaults filled in;
secrets as :class:`Secret`, a ``str`` whose ``repr`` is masked).
:meth:`Provider.authenticated` tells the start-up exposure check whether a connection's own
options keep strangers out (a signing secret is set; csoft Username+PIN).

Signatures and URLs: providers that sign the URL (Twilio, Plivo, MessageBird, Vonage GET) use
:attr:`RawRequest.url`, set by the hook path: the connection's ``public_url`` exactly as configured
(without its own query) plus the query string exactly as received; without ``public_url``, the URL
rebuilt from ``X-Forwarded-Proto/Host/Prefix`` when the peer is a trusted proxy, else from the
request itself (:mod:`smshook.web.public_url`). The clock for replay windows is
:attr:`RawRequest.received` (:meth:`RawRequest.now`). Shared helpers (constant-time comparison,
HMACs, replay windows, repeated form fields) live in :mod:`smshook.providers.signing`.

Adapters do not set ``id``, ``connection``, ``provider``, ``received_at`` or the idempotency key:
:func:`smshook.events.finalize` does. Shared decoding (form bodies, lenient JSON, safe XML, phone
numbers, timestamps) lives in :mod:`smshook.providers.formats`.

Adding a provider means: one module ``smshook/providers/<slug>.py`` ending in ``PROVIDER = Class``,
listed in ``BUILTIN`` (or, outside this repository, an entry point in the ``smshook.providers``
group); one folder of test vectors ``tests/providers/vectors/<slug>/`` (signed requests included);
one simulator profile ``smshook/simulate/profiles/<slug>.py`` (plugins: name it in
:attr:`Provider.simulator`). A test fails when a registered provider lacks either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from smshook.errors import ProviderError
from smshook.events import Event, FailureClass

# Request headers never written to the store (the raw request kept beside its events, the rejected log).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"})

# raw code -> (unified status, failure class)
StatusTable = Mapping[str, tuple[str, FailureClass | None]]
MASK = "***"


class Secret(str):
    """A secret option value: a plain ``str`` for the adapter, masked by ``repr`` (so a logged
    :class:`ConnectionInfo` or options mapping never shows it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


@dataclass(frozen=True, slots=True)
class Option:
    """One connection key a provider understands (``[connections.NAME]`` ``name = …``).

    ``type`` is ``str``, ``int``, ``float``, ``bool`` or ``list`` (of strings); a ``str`` option
    given as a TOML integer is taken as its digits (PINs). ``choices`` restricts a ``str``;
    ``check`` may refine a value or raise ``ValueError`` with a message that never quotes a
    secret. ``secret`` options are masked everywhere and reach the adapter as :class:`Secret`.
    """

    name: str
    type: type = str
    secret: bool = False
    required: bool = False
    doc: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    check: Callable[[Any], Any] | None = None

    def convert(self, value: Any) -> Any:
        """The validated value; ``ValueError`` naming what is wrong (never the value of a secret)."""
        if hasattr(value, "get_secret_value"):  # pydantic SecretStr given programmatically
            value = value.get_secret_value()
        kind = self.type
        if kind is str:
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise ValueError(f"must be a string (got {type(value).__name__})")
            if self.choices and value not in self.choices:
                got = "" if self.secret else f" (got {value!r})"
                raise ValueError(f"must be one of: {', '.join(self.choices)}{got}")
        elif kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false (got {type(value).__name__})")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"must be an integer (got {type(value).__name__})")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"must be a number (got {type(value).__name__})")
            value = float(value)
        elif kind is list:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ValueError("must be a list of strings")
            value = list(value)
        else:  # pragma: no cover - a provider's declaration error
            raise TypeError(f"option {self.name!r}: unsupported type {kind!r}")
        if self.check is not None:
            value = self.check(value)
        return value

    @property
    def type_name(self) -> str:
        names = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list of strings"}
        return names.get(self.type, str(self.type))


def declared_options(provider: type[Provider] | Provider) -> tuple[Option, ...]:
    """A provider's :attr:`Provider.options` as :class:`Option` objects (a bare name, as older
    plugins declared them, is a non-secret optional string)."""
    return tuple(o if isinstance(o, Option) else Option(str(o)) for o in provider.options)


@dataclass(frozen=True, slots=True)
class RawRequest:
    """An HTTP request as received, before any interpretation.

    ``url`` is the URL the provider called, for signatures (see the module docstring; set by the
    hook path, by the vector runner from the vector's ``url``); ``received`` is when it arrived
    (the clock for replay windows; None: now).
    """

    method: str
    path: str
    query: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()  # lower-cased names, in order
    body: bytes = b""
    client: str | None = None
    url: str = ""
    received: datetime | None = None

    def header(self, name: str, default: str = "") -> str:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def header_values(self, name: str) -> list[str]:
        """Every value of a header that may repeat, in order."""
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased (``""`` when absent)."""
        return self.header("content-type").split(";", 1)[0].strip().lower()

    def now(self) -> datetime:
        """When the request was received (UTC): the clock replay windows compare against."""
        return self.received if self.received is not None else datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What an adapter may know about the connection a request arrived on."""

    name: str
    provider: str
    # The provider's declared options as validated (defaults filled in, secrets as Secret).
    options: Mapping[str, Any] = field(default_factory=dict)
    timezone: str | None = None  # overrides Provider.timezone for naive provider timestamps
    public_url: str | None = None  # the URL as configured in the provider's portal, if set


class Parsed(list[Event]):
    """What :meth:`Provider.parse` learned: the events (it *is* the list) plus ``context``, any
    value the provider wants back in :attr:`Outcome.context` to build its answer."""

    __slots__ = ("context",)

    def __init__(self, events: Iterable[Event] = (), context: Any = None) -> None:
        super().__init__(events)
        self.context = context


def context_of(events: list[Event]) -> Any:
    """The ``context`` of a :class:`Parsed` result (None for a plain list)."""
    return events.context if isinstance(events, Parsed) else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a request's events. ``stored`` is False when the store could not commit:
    the answer must then make the provider retry. ``context``: what ``parse`` returned with them."""

    events: list[Event]
    stored: bool = True
    new: int = 0
    duplicates: int = 0
    context: Any = None


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
    # Connection keys this provider understands besides provider, token, allow_ips, timezone, public_url.
    options: ClassVar[tuple[Option | str, ...]] = ()
    # Options that only work together (csoft's username and PIN): a connection gives all of a group or
    # none of it, else start-up stops naming what is missing.
    together: ClassVar[tuple[tuple[str, ...], ...]] = ()
    # Whether verify() checks a signature over RawRequest.url (the URL pasted in the provider's portal):
    # start-up and `smshook doctor` then warn about a secret set without public_url or trusted proxies.
    signs_url: ClassVar[bool] = False
    # How verify() authenticates, shown in `smshook connections` ("signature", "credentials").
    auth_kind: ClassVar[str] = "signature"
    # raw code -> (unified status, failure class); unknown codes map to ("unknown", None).
    statuses: ClassVar[StatusTable] = {}
    # Module of the simulator profile, for plugins (built-ins: smshook.simulate.profiles.<slug>).
    simulator: ClassVar[str] = ""

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        """Check the request's authenticity (signature, in-body credentials) before parsing;
        raise :class:`~smshook.errors.SignatureError` if it fails. Default: nothing to check."""

    def authenticated(self, connection: ConnectionInfo) -> bool:
        """Whether :meth:`verify` keeps strangers out on this connection (its secret is set).
        The start-up exposure check counts the connection as protected when this, a URL token or
        an IP allow-list holds."""
        return False
    # Form fields (body or query) that carry a credential (csoft's PIN): their values are masked in
    # the raw request before it is stored, like secret headers and URL tokens.
    secret_fields: ClassVar[frozenset[str]] = frozenset()

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
