"""Twilio Programmable Messaging: status callbacks and incoming messages (providers-next.md §6).

Status callbacks: form ``POST`` to the message's ``StatusCallback`` with ``MessageSid``,
``MessageStatus`` (``SmsStatus`` repeats it), ``From``/``To``, ``ErrorCode`` on failures,
``RawDlrDoneDate`` (carrier time without a zone: kept raw). Incoming messages: form ``POST`` (or
``GET`` if so configured) with ``SmsStatus=received``, ``Body``, ``NumSegments``, ``NumMedia``,
``MediaUrl{N}``, ``OptOutType``... Twilio adds parameters without notice: all of them are kept in
``details`` and all are signed. WhatsApp (and other channel) addresses ``whatsapp:+…`` give the
``channel``. No timestamp in either request: ``occurred_at`` is null.

Answer: ``<Response/>`` TwiML (``text/xml``) to an incoming message — never a ``<Message>``, which
would send a reply — and an empty ``200`` to a status callback.

Signature (``X-Twilio-Signature``): Base64 HMAC-SHA1 with the auth token over the URL Twilio
requested (:attr:`RawRequest.url`: mind ``public_url`` behind a proxy) followed by every form
parameter sorted by name, ``name + value`` (a name's values sorted and de-duplicated), tried with
and without the port as Twilio's SDK does. JSON bodies carry ``bodySHA256`` in the URL: the URL
alone is signed and the hash must match the raw body. A ``X-Twilio-Webhooks-Signature-Settings``
header may ask for ``HMAC_SHA256``. ``auth_token_secondary`` is accepted too, during a rotation.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import orjson

from smshook.errors import InvalidRequest, SignatureError
from smshook.events import Event, FailureClass
from smshook.providers import formats, signing
from smshook.providers.base import ConnectionInfo, Option, Outcome, Parsed, Provider, RawRequest, Response

TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
XML = "text/xml; charset=utf-8"
ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}

# ErrorCode -> failure class (providers-next.md §6: the Twilio error catalogue; unknown codes: none).
ERROR_CLASSES: dict[str, FailureClass] = {
    "30001": "temporary",  # queue overflow
    "30002": "permanent",  # account suspended
    "30003": "temporary",  # unreachable destination handset
    "30004": "permanent",  # message blocked
    "30005": "permanent",  # unknown destination handset
    "30006": "permanent",  # landline or unreachable carrier
    "30007": "permanent",  # carrier filtering
    "30008": "temporary",  # unknown error
    "21610": "permanent",  # the recipient replied STOP (unsubscribed)
    "63018": "temporary",  # rate limit
}
OPT_OUT_CODE = "21610"
# Fields that become Event fields; everything else stays in details as received.
_MAPPED = frozenset({"MessageSid", "SmsSid", "SmsMessageSid", "MessageStatus", "SmsStatus", "From", "To", "Body"})


class Twilio(Provider):
    slug = "twilio"
    name = "Twilio"
    docs_url = "https://www.twilio.com/docs/messaging/guides/webhook-request"
    methods = frozenset({"GET", "POST"})
    signs_url = True  # the signature covers the URL as configured in the portal
    options = (
        Option("auth_token", secret=True,
               doc="The account's Auth Token (Console → Account Info): X-Twilio-Signature is checked with it."),
        Option("auth_token_secondary", secret=True,
               doc="The secondary Auth Token, accepted too while the primary is being rotated."),
    )
    statuses = {
        "accepted": ("pending", None),
        "scheduled": ("pending", None),
        "queued": ("pending", None),
        "sending": ("pending", None),
        "sent": ("sent", None),
        "delivered": ("delivered", None),
        "read": ("read", None),
        "undelivered": ("undelivered", None),  # class from ErrorCode
        "failed": ("failed", None),  # class from ErrorCode
        "canceled": ("failed", "permanent"),
        "partially_delivered": ("unknown", None),
    }

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return bool(connection.options.get("auth_token"))

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        tokens = [t for t in (connection.options.get("auth_token"), connection.options.get("auth_token_secondary"))
                  if t]
        if not tokens:
            return
        given = request.header("x-twilio-signature")
        if not given:
            raise SignatureError("no X-Twilio-Signature header: the request is not signed by Twilio",
                                 reason="missing", status=403)
        algorithm = _algorithm(request.header("x-twilio-webhooks-signature-settings"))
        params: list[tuple[str, str]] = []
        body_hash = parse_qs(urlsplit(request.url).query).get("bodySHA256")
        if body_hash:  # JSON body: the URL alone is signed, and it carries the body's hash
            if not signing.same(body_hash[0].lower(), signing.sha256_hex(request.body)):
                raise SignatureError("bodySHA256 in the URL does not match the body", status=403)
        elif request.method == "POST":
            params = signing.form_pairs(request.body)
        expected = [signing.b64(signing.hmac_digest(algorithm, token, url + _concatenated(params)))
                    for token in tokens for url in _port_variants(request.url)]
        if not signing.any_same([given.strip()], expected):
            raise SignatureError(f"X-Twilio-Signature does not match {request.url} (is public_url the URL "
                                 "configured at Twilio?)", status=403)

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        fields = _fields(request)
        sid = fields.get("MessageSid") or fields.get("SmsSid") or fields.get("SmsMessageSid")
        state = fields.get("MessageStatus") or fields.get("SmsStatus")
        details: dict[str, Any] = {k: v for k, v in fields.items() if k not in _MAPPED}
        sender, sender_channel = _address(fields.get("From"))
        recipient, recipient_channel = _address(fields.get("To"))
        channel = sender_channel or recipient_channel or "sms"
        if state in ("received", "receiving") or (state is None and "Body" in fields):
            if not sid:
                raise InvalidRequest("incoming message without 'MessageSid'")
            if "OptOutType" in fields:
                details["opt_out"] = fields["OptOutType"].upper()
            text = fields.get("Body", "")
            return Parsed([Event(
                type="inbound", message_id=sid, channel=channel, from_=sender, to=recipient, text=text,
                keyword=formats.first_word(text), details=details,
            )], "inbound")
        if state is None:
            raise InvalidRequest("neither a status callback (no 'MessageStatus') nor an incoming message "
                                 "(no 'Body')")
        if not sid:
            raise InvalidRequest("status callback without 'MessageSid'")
        status, failure = self.status_of(state)
        code = fields.get("ErrorCode") or None
        if code is not None and status in ("undelivered", "failed") and failure is None:
            failure = ERROR_CLASSES.get(code)
        if code == OPT_OUT_CODE:
            details["opt_out"] = "STOP"
        return Parsed([Event(
            type="status", message_id=sid, status=status, provider_status=state, failure_class=failure,
            channel=channel, from_=sender, to=recipient, details=details,
        )], "status")

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        if not outcome.stored:
            return Response(503, b"store unavailable, retry later\n")
        if outcome.context == "inbound":
            return Response(200, TWIML, XML)
        return Response(200, b"", "text/plain; charset=utf-8")


def _algorithm(settings: str) -> str:
    for part in settings.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            algorithm = ALGORITHMS.get(value.strip().upper())
            if algorithm is None:
                raise SignatureError(f"unsupported signature algorithm {value.strip()[:32]!r} "
                                     "(HMAC_SHA1 and HMAC_SHA256 are)", status=403)
            return algorithm
    return "sha1"


def _concatenated(pairs: list[tuple[str, str]]) -> str:
    """``name + value`` for every parameter, names sorted, each name's values sorted and unique."""
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def _port_variants(url: str) -> list[str]:
    """The URL without its port, and with it (the scheme's default added when none): Twilio's SDK
    accepts either, "since sig generation on back end is inconsistent"."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    bare = host.rsplit(":", 1)[0] if parts.port else host
    with_port = host if parts.port else f"{host}:{443 if parts.scheme == 'https' else 80}"
    return list(dict.fromkeys(urlunsplit(parts._replace(netloc=n)) for n in (bare, with_port)))


def _fields(request: RawRequest) -> dict[str, str]:
    if request.content_type == "application/json" or formats.looks_like_json(request.body):
        data = formats.loads_lenient(request.body)
        if not isinstance(data, dict):
            raise InvalidRequest("expected a JSON object")
        fields = {str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in data.items()}
        if request.query:
            fields = {**formats.parse_form(request.query), **fields}
        return fields
    return formats.form_fields(request)


def _address(value: str | None) -> tuple[str | None, str | None]:
    """A number without its channel prefix (``whatsapp:+1…`` -> ``1…``, ``whatsapp``)."""
    if not value:
        return None, None
    prefix, sep, rest = value.partition(":")
    if sep and prefix.isalpha():
        return formats.phone(rest), prefix.lower()
    return formats.phone(value), None


PROVIDER = Twilio
