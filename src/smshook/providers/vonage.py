"""Vonage (ex-Nexmo) SMS API delivery receipts and inbound SMS, and the Messages API's status and
inbound webhooks (providers-next.md §7).

SMS API: the account chooses ``GET`` (query string), ``POST`` (form) or ``POST-JSON``; all three
are read on one endpoint. **Trap:** in a receipt ``msisdn`` is the handset the message went to and
``to`` the sender id we used; in an inbound message ``msisdn`` is the sender and ``to`` our
number. A long message gets one receipt per part (each its own ``messageId``); a long inbound
message arrives part by part with ``concat``, ``concat-ref``, ``concat-total``, ``concat-part``
(kept in ``details``). ``scts`` (``YYMMDDHHMM``, the carrier's time in an unstated zone) is a
receipt's ``occurred_at`` only when the connection sets ``timezone``; otherwise
``message-timestamp`` (UTC, when Vonage started pushing) is, as for inbound messages.
``err-code`` gives the failure class.

Messages API: JSON with ``message_uuid``; ``status`` (``submitted``, ``delivered``, ``read``,
``rejected``, ``undeliverable``) or an inbound message (``text``, ``channel``...).

Signatures ("signed webhooks", ``signature_secret``): the SMS API adds ``sig``, ``timestamp`` and
``nonce``. Every received parameter but ``sig`` (query for GET, form fields for POST, top-level
keys for POST-JSON), sorted by name, values with ``&`` and ``=`` replaced by ``_``, is written
``&name=value…``; ``md5hash`` signs ``MD5(string + secret)``, the others are HMACs keyed with the
secret; hex compared case-insensitively; ``timestamp`` within 300 s. The Messages API sends
``Authorization: Bearer <JWT>`` (HS256 with the signature secret) whose ``payload_hash`` is the
SHA-256 of the raw body. Vonage says an internal error may send a Messages API callback unsigned,
and that a 5xx makes it retry: such a callback is refused with 503 (not stored, kept in the
rejected log) rather than 401.

Answer: ``200 OK`` (anything else makes Vonage resend for 24 hours).
"""

from __future__ import annotations

import hashlib
import warnings
from datetime import datetime
from typing import Any

import jwt
import orjson

from smshook.errors import InvalidRequest, SignatureError
from smshook.events import Event, FailureClass
from smshook.providers import formats, signing
from smshook.providers.base import ConnectionInfo, Option, Provider, RawRequest

METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")
SIGNATURE_PARAMS = frozenset({"sig", "timestamp", "nonce"})

# err-code -> failure class (courier, from Vonage's DLR error table; classes ours).
ERROR_CLASSES: dict[str, FailureClass | None] = {
    "1": None, "2": "temporary", "3": "permanent", "4": "permanent", "5": "permanent", "6": "permanent",
    "7": "temporary", "8": "temporary", "9": "permanent", "10": "permanent", "11": "permanent",
    "12": "temporary", "13": "permanent", "14": "permanent", "15": "temporary", "16": "temporary",
    "50": "permanent", "51": "permanent", "52": "permanent", "53": "permanent", "54": "permanent", "99": None,
}
MESSAGES_STATUSES: dict[str, tuple[str, FailureClass | None]] = {
    "submitted": ("sent", None),
    "delivered": ("delivered", None),
    "read": ("read", None),
    "rejected": ("rejected", None),
    "undeliverable": ("failed", "temporary"),  # Vonage could not reach the provider
}
_DLR_MAPPED = frozenset({"messageId", "status", "msisdn", "to", "scts", "price", "client-ref", "network-code"})
_MO_MAPPED = frozenset({"messageId", "msisdn", "to", "text", "keyword", "message-timestamp"})


class Vonage(Provider):
    slug = "vonage"
    name = "Vonage"
    docs_url = "https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts"
    methods = frozenset({"GET", "POST"})
    options = (
        Option("signature_secret", secret=True,
               doc="The account's signature secret (Dashboard → Settings): checks the SMS API's sig parameter "
               "and the Messages API's JWT."),
        Option("signature_method", choices=METHODS, default="md5hash",
               doc="The signature method chosen in the Dashboard next to the secret."),
    )
    statuses = {
        "accepted": ("sent", None),
        "buffered": ("buffered", None),
        "delivered": ("delivered", None),
        "expired": ("expired", "temporary"),
        "failed": ("undelivered", None),
        "rejected": ("rejected", None),
        "unknown": ("unknown", None),
    }

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return bool(connection.options.get("signature_secret"))

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        secret = connection.options.get("signature_secret")
        if not secret:
            return
        scheme, _, token = request.header("authorization").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            _verify_jwt(request, token.strip(), str(secret))
            return
        try:
            params = _fields(request)
        except InvalidRequest as exc:
            raise SignatureError(f"cannot read the signed parameters: {exc.message}") from None
        given = params.get("sig")
        if not given and "message_uuid" in params:
            # Vonage: "in the rare case of an internal error" a Messages API callback goes out unsigned, and
            # a 5xx makes it retry: refuse it so (not stored), rather than lose it with a 401.
            raise SignatureError("unsigned Messages API callback (no Authorization JWT): refused with 503 so "
                                 "that Vonage sends it again", reason="missing", status=503)
        if not given:
            raise SignatureError("no 'sig' parameter (nor a Messages API JWT): the request is not signed",
                                 reason="missing")
        signing.fresh(request, params.get("timestamp"))
        method = str(connection.options.get("signature_method") or "md5hash")
        expected = sign(params, str(secret), method)
        if not signing.same(given.lower(), expected):
            raise SignatureError(f"'sig' does not match ({method}; is signature_method the one in the Dashboard?)")

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        fields = _fields(request)
        if "message_uuid" in fields:
            return [_messages_event(fields)]
        if "status" in fields:
            return [self._receipt(fields, connection)]
        if "messageId" in fields and ("text" in fields or "type" in fields or "concat" in fields):
            return [_inbound(fields)]
        raise InvalidRequest("neither a delivery receipt (no 'status') nor an inbound message (no 'text')")

    def _receipt(self, fields: dict[str, Any], connection: ConnectionInfo) -> Event:
        state = _text(fields, "status")
        status, failure = self.status_of(state)
        code = _text(fields, "err-code") if fields.get("err-code") not in (None, "") else None
        if status != "delivered" and code not in (None, "0") and code in ERROR_CLASSES:
            failure = ERROR_CLASSES[code] if status != "expired" else failure
        scts = _opt(fields, "scts")
        pushed = _opt(fields, "message-timestamp")
        # scts is the carrier's time in an unstated zone: used only when the connection names the zone;
        # otherwise message-timestamp (UTC, when Vonage started pushing the receipt).
        if scts and connection.timezone:
            occurred = formats.parse_time(scts, "%y%m%d%H%M", connection.timezone, field="scts")
        elif pushed:
            occurred = formats.parse_time(pushed, "%Y-%m-%d %H:%M:%S", "UTC", field="message-timestamp")
        else:
            occurred = None
        network = _text(fields, "network-code") if fields.get("network-code") else None
        return Event(
            type="status",
            message_id=_require(fields, "messageId"),
            status=status,
            provider_status=state,
            failure_class=failure,
            to=_address(_opt(fields, "msisdn")),  # the handset (the trap: not 'to')
            from_=_address(_opt(fields, "to")),  # the sender id we used
            reference=_opt(fields, "client-ref"),
            occurred_at=occurred,
            price=formats.decimal_text(fields.get("price"), field="price"),
            network={"mccmnc": network, "operator": None, "country": None} if network else None,
            details=_details(fields, _DLR_MAPPED),
        )


def sign(params: dict[str, Any], secret: str, method: str) -> str:
    """The hex ``sig`` of ``params`` (``sig`` itself left out), lower-case."""
    text = "".join(f"&{name}={_value(params[name]).replace('&', '_').replace('=', '_')}"
                   for name in sorted(params) if name != "sig")
    if method == "md5hash":
        # Vonage's own scheme, not our choice of hash:
        return hashlib.md5((text + secret).encode(), usedforsecurity=False).hexdigest()
    return signing.hmac_digest(method, secret, text).hex()


def _verify_jwt(request: RawRequest, token: str, secret: str) -> None:
    """The Messages API's bearer JWT: HS256 with the signature secret, ``payload_hash`` of the body,
    ``iat`` (and ``exp``/``nbf`` when present) against the request's arrival."""
    try:
        with warnings.catch_warnings():  # the secret's length is Vonage's choice: no warning per request
            warnings.simplefilter("ignore")
            claims = jwt.decode(token, secret, algorithms=["HS256"],
                                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
    except jwt.InvalidTokenError as exc:
        raise SignatureError(f"Authorization JWT is not valid: {exc}") from None
    now = request.now().timestamp()
    if "iat" in claims:
        signing.fresh(request, claims["iat"], what="JWT iat")
    for claim, late in (("exp", True), ("nbf", False)):
        value = claims.get(claim)
        if isinstance(value, int | float) and ((late and now > value + 1) or (not late and now < value - 1)):
            raise SignatureError(f"JWT {claim} is {'past' if late else 'in the future'}", reason="stale")
    want = claims.get("payload_hash")
    if not isinstance(want, str) or not signing.same(want.lower(), signing.sha256_hex(request.body)):
        raise SignatureError("JWT payload_hash does not match the body")


def _fields(request: RawRequest) -> dict[str, Any]:
    if request.method == "POST" and (request.content_type == "application/json"
                                     or formats.looks_like_json(request.body)):
        data = formats.loads_lenient(request.body)
        if not isinstance(data, dict):
            raise InvalidRequest("expected a JSON object")
        return data
    return formats.form_fields(request)


def _address(value: str | None) -> str | None:
    """A number as digits; an alphanumeric sender id ("Nexmo CLI") as given."""
    if value is None:
        return None
    compact = value.strip().replace(" ", "").lstrip("+")
    return formats.phone(value) if compact.isdigit() else value.strip() or None


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _text(fields: dict[str, Any], name: str) -> str:
    return _value(fields[name])


def _opt(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    return None if value is None or value == "" else _value(value)


def _require(fields: dict[str, Any], name: str) -> str:
    value = _opt(fields, name)
    if value is None:
        raise InvalidRequest(f"missing field {name!r}")
    return value


def _details(fields: dict[str, Any], mapped: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in mapped and k not in SIGNATURE_PARAMS}


def _inbound(fields: dict[str, Any]) -> Event:
    text = _opt(fields, "text")
    when = _opt(fields, "message-timestamp")
    keyword = _opt(fields, "keyword")
    return Event(
        type="inbound",
        message_id=_require(fields, "messageId"),
        from_=formats.phone(_opt(fields, "msisdn")),  # the sender (the trap: not 'to')
        to=formats.phone(_opt(fields, "to")),  # our virtual number
        text=text,
        keyword=keyword.upper() if keyword else formats.first_word(text),
        occurred_at=formats.parse_time(when, "%Y-%m-%d %H:%M:%S", "UTC", field="message-timestamp") if when else None,
        details=_details(fields, _MO_MAPPED),
    )


def _messages_event(fields: dict[str, Any]) -> Event:
    """A Messages API status or inbound webhook."""
    when = _opt(fields, "timestamp")
    occurred = _iso(when) if when else None
    channel = _opt(fields, "channel") or "sms"
    raw_usage = fields.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    mapped = {"message_uuid", "to", "from", "timestamp", "status", "channel", "text", "client_ref", "usage"}
    details = {k: v for k, v in fields.items() if k not in mapped}
    if "status" in fields:
        state = _text(fields, "status")
        status, failure = MESSAGES_STATUSES.get(state, ("unknown", None))
        return Event(
            type="status", message_id=_require(fields, "message_uuid"), status=status, provider_status=state,
            failure_class=failure, channel=channel, to=formats.phone(_opt(fields, "to")),
            from_=formats.phone(_opt(fields, "from")), reference=_opt(fields, "client_ref"), occurred_at=occurred,
            price=formats.decimal_text(usage.get("price"), field="usage.price"),
            currency=_opt(usage, "currency"), details=details,
        )
    text = _opt(fields, "text")
    return Event(
        type="inbound", message_id=_require(fields, "message_uuid"), channel=channel,
        from_=formats.phone(_opt(fields, "from")), to=formats.phone(_opt(fields, "to")), text=text,
        keyword=formats.first_word(text), reference=_opt(fields, "client_ref"), occurred_at=occurred, details=details,
    )


def _iso(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"field 'timestamp': {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise InvalidRequest(f"field 'timestamp': {value!r} has no time zone")
    return parsed.astimezone(formats.zone("UTC"))


PROVIDER = Vonage
