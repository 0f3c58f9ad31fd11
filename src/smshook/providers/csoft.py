"""Connection Software (csoft.co.uk, "It's Arrived"): delivery receipts and inbound SMS.

Receipts: ``POST`` form body (labelled ``text/html`` in csoft's own example) with ``Username``,
``PIN`` (the literal ``NULL`` when not configured), ``SendTo`` (the handset), ``Timestamp1``
(``YYYY-MM-DDTHH:MM:SSZ``), ``MessageIdentifier`` and ``Report``. Inbound: ``SendTo`` is *our*
number, ``ReplyTo`` the sender, ``Message`` the text. The answer echoes the identifier:
``MessageIdentifier=…&Report=0&Text=OK``; anything but ``Report=0`` makes csoft resend.

Authenticity: csoft does not sign; a connection may set ``username`` and ``pin`` (both: the
connection counts as authenticated), compared in constant time with the body's ``Username``/``PIN``.
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

from smshook.errors import InvalidRequest, ProviderError, SignatureError
from smshook.events import Event
from smshook.providers import formats
from smshook.providers.base import ConnectionInfo, Option, Outcome, Parsed, Provider, RawRequest, Response

FORM = "text/plain; charset=utf-8"


class Csoft(Provider):
    slug = "csoft"
    name = "Connection Software"
    docs_url = "https://www.csoft.co.uk/support/delivery-receipts"
    methods = frozenset({"POST"})
    options = (
        Option("username", doc="The Username csoft sends in each callback (checked when set)."),
        Option("pin", secret=True, doc="The PIN csoft sends in each callback (checked when set)."),
    )
    together = (("username", "pin"),)  # csoft sends both in every callback
    auth_kind = "credentials"
    secret_fields = frozenset({"PIN"})
    statuses = {
        "0": ("delivered", None),
        "-4": ("sent", None),
        "-3": ("pending", None),
        "11": ("sent", None),  # invalid characters removed, the rest processed
        "19": ("sent", None),
        "2": ("failed", "permanent"),  # invalid login
        "3": ("rejected", "permanent"),  # invalid number
        "5": ("rejected", "permanent"),
        "7": ("rejected", "permanent"),
        "4": ("rejected", "permanent"),  # inactive number
        "8": ("rejected", "permanent"),  # blacklisted number
        "25": ("undelivered", "temporary"),  # deleted by SMSC
        "27": ("expired", "temporary"),
        "28": ("undelivered", "temporary"),  # abandoned by SMSC
    }
    notes = {"11": "invalid characters removed", "19": "invalid characters removed"}

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        fields = formats.form_fields(request)
        ident = _identifier(request)  # the answer's echo: the bytes csoft sent, percent-encoded
        details = {k: v for k, v in fields.items() if k not in _KNOWN}
        when = formats.optional(fields, "Timestamp1")
        occurred = formats.parse_time(when, "%Y-%m-%dT%H:%M:%SZ", "UTC", field="Timestamp1") if when else None
        if "Report" in fields:
            code = formats.require(fields, "Report")
            formats.integer(code, field="Report", digits=4, what="a csoft report code")
            status, failure = self.status_of(code)
            if code in self.notes:
                details["note"] = self.notes[code]
            return Parsed([Event(
                type="status",
                message_id=formats.require(fields, "MessageIdentifier"),
                status=status,
                provider_status=code,
                failure_class=failure,
                to=formats.phone(fields.get("SendTo")),
                occurred_at=occurred,
                details=details,
            )], ident)
        if "Message" in fields or "ReplyTo" in fields:
            text = fields.get("Message", "")
            return Parsed([Event(
                type="inbound",
                message_id=formats.optional(fields, "MessageIdentifier"),
                from_=formats.phone(formats.require(fields, "ReplyTo")),
                to=formats.phone(fields.get("SendTo")),
                text=text,
                keyword=formats.first_word(text),
                occurred_at=occurred,
                details=details,
            )], ident)
        raise InvalidRequest("neither a delivery receipt (no 'Report') nor an inbound message (no 'Message')")

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return connection.options.get("username") is not None and connection.options.get("pin") is not None

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        """Compare Username and PIN in constant time when the connection configures them."""
        want_user = connection.options.get("username")
        want_pin = connection.options.get("pin")
        if want_user is None and want_pin is None:
            return
        fields = formats.form_fields(request)
        ok = True
        for name, want in (("Username", want_user), ("PIN", want_pin)):
            if want is None:
                continue
            got = fields.get(name, "")
            ok &= hmac.compare_digest(got.encode(), str(want).encode())
        if not ok:
            raise SignatureError("Username/PIN do not match this connection", reason="credentials")

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        # The MessageIdentifier parse read, percent-encoded (None only when parse never ran: a quarantine
        # that failed).
        ident = outcome.context if outcome.context is not None else _identifier(request)
        if not outcome.stored:
            return Response(503, _answer(ident, "-1", "store unavailable, retry later"), FORM)
        return Response(200, _answer(ident, "0", "OK"), FORM)

    def reject(self, request: RawRequest, error: ProviderError) -> Response:
        return Response(error.status, _answer(_identifier(request), "-1", error.message), FORM)


_KNOWN = frozenset({"Username", "PIN", "SendTo", "Timestamp1", "MessageIdentifier", "Report", "Message", "ReplyTo"})


def _identifier(request: RawRequest) -> str:
    """The MessageIdentifier to echo, percent-encoded: the very bytes csoft sent (an identifier that is
    not UTF-8 is echoed byte for byte, not as its Latin-1 reading re-encoded)."""
    found = formats.form_value(request, "MessageIdentifier") or ""
    if found.isascii() and found.isalnum():  # letters and digits: nothing to encode
        return found
    for data in (request.body, request.query):
        for part in data.split(b"&"):
            name, _, value = part.strip(b"\r\n").partition(b"=")
            if unquote_to_bytes(name.replace(b"+", b" ")).strip() == b"MessageIdentifier":
                return quote(unquote_to_bytes(value.replace(b"+", b" ")))
    return quote(found)


def _answer(identifier: str, report: str, text: str) -> bytes:
    return f"MessageIdentifier={identifier}&Report={report}&Text={_quoted(text[:255])}".encode()


@lru_cache(maxsize=256)
def _quoted(text: str) -> str:
    """The answer's Text, percent-encoded (a handful of fixed texts and error messages)."""
    return quote(text)


PROVIDER = Csoft
