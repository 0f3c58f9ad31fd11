"""Plivo message status callbacks and incoming messages (providers-next.md §8).

Status callbacks: form ``POST`` (or ``GET``) with ``MessageUUID``, ``Status``, ``To``/``From``,
``ErrorCode`` (empty on success), ``Units``, ``TotalAmount``, ``MCC``/``MNC``, ``Sequence`` (the
order Plivo generated them), ``MessageTime``/``QueuedTime``/``SentTime``/``DeliveryReportTime``
(``YYYY-mm-dd HH:MM:SS.ffffff``, read as UTC unless the connection sets ``timezone``). Older traffic
sent one callback per part: when ``ParentMessageUUID`` differs from ``MessageUUID`` the event is
about the parent, the part's id and ``PartInfo`` stay in ``details``. Incoming messages:
``MessageUUID``, ``From`` (sender), ``To`` (our number), ``Text`` (SMS, already concatenated) or
``Body`` (MMS/WhatsApp), ``Type``, ``Units``, ``MessageIntent`` (``optout``/``optin``/``help``),
``MediaCount``, ``Media1…``. ``ErrorCode`` 200 (the recipient sent STOP) and ``MessageIntent`` are
surfaced as ``details.opt_out``.

Answer: ``200``; an incoming message gets an empty ``<Response></Response>`` (``application/xml``):
a ``<Message>`` in it would send a reply.

Signature: ``X-Plivo-Signature-V3`` (made with the auth token of the account or sub-account owning
the number) and ``X-Plivo-Signature-Ma-V3`` (the main account's), each possibly several values
separated by ``,``, with ``X-Plivo-Signature-V3-Nonce``: Base64 HMAC-SHA256 over
``scheme://host/path`` + ``?`` + the parameters as Plivo's SDK lays them out (GET: URL query and
received parameters merged, sorted, ``name=value`` joined by ``&``; POST: the URL's sorted query,
``.``, then sorted body parameters as ``namevalue``) + ``.`` + nonce. The legacy
``X-Plivo-Signature-V2`` (URL without query + nonce) is accepted when no V3 header is sent.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from smshook.errors import InvalidRequest, SignatureError
from smshook.events import Event, FailureClass
from smshook.providers import formats, signing
from smshook.providers.base import ConnectionInfo, Option, Outcome, Parsed, Provider, RawRequest, Response

EMPTY_XML = b"<Response></Response>"
XML = "application/xml"
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")

# ErrorCode -> failure class (providers-next.md §8, Plivo's messaging error codes; unknown: none).
ERROR_CLASSES: dict[str, FailureClass | None] = {
    "10": "permanent",  # invalid message
    "20": "temporary",  # network error
    "30": "permanent",  # spam detected
    "40": "permanent",  # invalid source number
    "50": "permanent",  # invalid destination number
    "60": "permanent",  # loop detected
    "70": "permanent",  # destination permanently unavailable
    "80": "temporary",  # destination temporarily unavailable
    "90": "permanent",  # no route available
    "100": "permanent",  # prohibited by carrier
    "110": "permanent",  # message too long
    "200": "permanent",  # source number blocked by STOP from destination
    "300": "temporary",  # failed to dispatch
    "420": "temporary",  # message expired
    "900": "permanent",  # insufficient credit
    "910": "permanent",  # account disabled
    "1000": None,  # unknown error
}
OPT_OUT_CODE = "200"
EXPIRED_CODE = "420"
INTENTS = {"optout": "STOP", "optin": "START", "help": "HELP"}
CHANNELS = {"whatsapp": "whatsapp", "mms": "mms"}
_STATUS_MAPPED = frozenset({"MessageUUID", "ParentMessageUUID", "Status", "To", "From", "TotalAmount", "MCC", "MNC"})
_MO_MAPPED = frozenset({"MessageUUID", "From", "To", "Text", "Body"})


class Plivo(Provider):
    slug = "plivo"
    name = "Plivo"
    docs_url = "https://www.plivo.com/docs/messaging/api/message/message-status-callbacks"
    methods = frozenset({"GET", "POST"})
    signs_url = True  # the signature covers the URL as configured in the portal
    options = (
        Option("auth_token", secret=True,
               doc="The Auth Token of the (sub-)account that owns the numbers (Console → Overview): checks "
               "X-Plivo-Signature-V3."),
        Option("main_auth_token", secret=True,
               doc="The main account's Auth Token, when the numbers belong to a sub-account: checks "
               "X-Plivo-Signature-Ma-V3."),
    )
    statuses = {
        "queued": ("pending", None),
        "sent": ("sent", None),
        "delivered": ("delivered", None),
        "undelivered": ("undelivered", None),  # final failure; class from ErrorCode
        "failed": ("failed", None),
        "rejected": ("rejected", None),
        "read": ("read", None),
    }

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return bool(connection.options.get("auth_token") or connection.options.get("main_auth_token"))

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        tokens = [str(t) for t in (connection.options.get("auth_token"), connection.options.get("main_auth_token"))
                  if t]
        if not tokens:
            return
        v3 = [s.strip() for name in ("x-plivo-signature-v3", "x-plivo-signature-ma-v3")
              for value in request.header_values(name) for s in value.split(",") if s.strip()]
        if v3:
            nonce = request.header("x-plivo-signature-v3-nonce")
            if not nonce:
                raise SignatureError("X-Plivo-Signature-V3 without X-Plivo-Signature-V3-Nonce", reason="missing")
            text = signed_text(request) + "." + nonce
            expected = [signing.b64(signing.hmac_digest("sha256", token, text)) for token in tokens]
            if not signing.any_same(v3, expected):
                raise SignatureError(f"X-Plivo-Signature-V3 does not match {request.url} (is public_url the URL "
                                     "configured at Plivo, trailing / included?)")
            return
        v2 = [s.strip() for name in ("x-plivo-signature-v2", "x-plivo-signature-ma-v2")
              for value in request.header_values(name) for s in value.split(",") if s.strip()]
        nonce = request.header("x-plivo-signature-v2-nonce")
        if not v2 or not nonce:
            raise SignatureError("no X-Plivo-Signature-V3 header: the request is not signed by Plivo",
                                 reason="missing")
        expected = [signing.b64(signing.hmac_digest("sha256", token, _base(request.url) + nonce)) for token in tokens]
        if not signing.any_same(v2, expected):
            raise SignatureError(f"X-Plivo-Signature-V2 does not match {request.url}")

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        fields = formats.form_fields(request)
        if "Status" in fields:
            return Parsed([self._status(fields, connection)], "status")
        if "MessageUUID" in fields and ("Text" in fields or "Body" in fields or "MediaCount" in fields):
            return Parsed([_inbound(fields)], "inbound")
        raise InvalidRequest("neither a status callback (no 'Status') nor an incoming message (no 'Text')")

    def _status(self, fields: dict[str, str], connection: ConnectionInfo) -> Event:
        part = formats.require(fields, "MessageUUID")
        parent = formats.optional(fields, "ParentMessageUUID") or part
        state = formats.require(fields, "Status")
        status, failure = self.status_of(state)
        code = formats.optional(fields, "ErrorCode")
        details: dict[str, Any] = {k: v for k, v in fields.items() if k not in _STATUS_MAPPED}
        if parent != part:
            details["part_uuid"] = part
        if code is not None and status not in ("delivered", "read", "sent", "pending"):
            failure = ERROR_CLASSES.get(code)
            if code == EXPIRED_CODE:
                status = "expired"
        if code == OPT_OUT_CODE:
            details["opt_out"] = "STOP"
        mcc, mnc = formats.optional(fields, "MCC"), formats.optional(fields, "MNC")
        return Event(
            type="status",
            message_id=parent,
            status=status,
            provider_status=state,
            failure_class=failure,
            channel=CHANNELS.get((fields.get("Type") or "").lower(), "sms"),
            from_=formats.phone(fields.get("From")),
            to=formats.phone(fields.get("To")),
            occurred_at=self._time(fields, connection),
            submitted_at=self._time(fields, connection, ("MessageTime", "QueuedTime")),  # time to delivery's start
            price=formats.decimal_text(fields.get("TotalAmount"), field="TotalAmount"),
            network={"mccmnc": f"{mcc}{mnc}", "operator": None, "country": None} if mcc and mnc else None,
            details=details,
            key_extra=f"{part if parent != part else ''}|{fields.get('Sequence', '')}",
        )

    def _time(self, fields: dict[str, str], connection: ConnectionInfo,
              names: tuple[str, ...] = ("DeliveryReportTime", "SentTime", "QueuedTime", "MessageTime")) -> Any:
        for name in names:
            value = formats.optional(fields, name)
            if value:
                fmt = TIME_FORMATS[0] if "." in value else TIME_FORMATS[1]
                return formats.parse_time(value, fmt, self.zone(connection), field=name)
        return None

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        if not outcome.stored:
            return Response(503, b"store unavailable, retry later\n")
        if outcome.context == "inbound":
            return Response(200, EMPTY_XML, XML)
        return Response(200, b"OK")


def _inbound(fields: dict[str, str]) -> Event:
    text = fields.get("Text", fields.get("Body"))
    details: dict[str, Any] = {k: v for k, v in fields.items() if k not in _MO_MAPPED}
    intent = (fields.get("MessageIntent") or "").lower()
    if intent in INTENTS:
        details["opt_out"] = INTENTS[intent]
    return Event(
        type="inbound",
        message_id=formats.require(fields, "MessageUUID"),
        channel=CHANNELS.get((fields.get("Type") or "").lower(), "sms"),
        from_=formats.phone(fields.get("From")),
        to=formats.phone(fields.get("To")),
        text=text,
        keyword=formats.first_word(text),
        details=details,
    )


def _base(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return values


def signed_text(request: RawRequest) -> str:
    """What Plivo signs (before ``.nonce``), as ``plivo.utils.signature_v3`` builds it."""
    base = _base(request.url)
    query = _grouped(signing.form_pairs(urlsplit(request.url).query.encode("latin-1")))
    if request.method == "GET":
        params = {**_grouped(signing.form_pairs(request.query)), **query}
        joined = "&".join(f"{k}={v}" for k in sorted(params) for v in sorted(params[k]))
        return f"{base}?{joined}" if joined else base
    body = _grouped(signing.form_pairs(request.body)) if request.body else {}
    joined = "&".join(f"{k}={v}" for k in sorted(query) for v in sorted(query[k]))
    text = f"{base}?{joined}" if joined or body else base
    if joined and body:
        text += "."
    return text + "".join(f"{k}{v}" for k in sorted(body) for v in sorted(body[k]))


PROVIDER = Plivo
