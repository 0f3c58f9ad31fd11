"""MessageBird / Bird (legacy SMS REST API): status reports and inbound SMS, signed with a JWT.

* Status reports: ``GET`` with query parameters (sent only for messages that had a ``reference``):
  ``id``, ``reference``, ``recipient``, ``status``, ``statusReason``, ``statusErrorCode``,
  ``statusDatetime`` (RFC 3339), ``mccmnc``, ``ported``, ``price[amount]``, ``price[currency]``
  (brackets in the key names), ``messageLength``, ``messagePartCount``, ``datacoding``.
  ``statusErrorCode=103`` means the recipient sent STOP.
* Inbound SMS: ``POST`` form. Long numbers: ``originator``, ``recipient`` (or ``receiver``),
  ``body``, ``id``, ``createdDatetime`` (RFC 3339); short codes: ``shortcode``, ``message``, ``mid``,
  ``receive_datetime`` (``YYYYMMDDhhmmss``, zone unstated: UTC unless the connection says
  otherwise); MMS adds ``mediaUrls`` (repeated). A repeated key keeps its first value.

Authenticity: ``MessageBird-Signature-JWT`` is a JWT signed with the account's *signing key* (not
the API key): HS256/384/512 (``none`` and anything else refused), ``iss`` = ``MessageBird``, ``nbf``
and ``exp`` (60 s apart) checked against our clock with 1 s leeway, ``url_hash`` = hex SHA-256 of the
full URL as requested (scheme, host, port, path and the query string exactly as received: for a
GET status report that is everything signed), ``payload_hash`` = hex SHA-256 of the raw body,
present if and only if there is a body (MessageBird's ``RequestValidator``). The answer is ``200``
with body ``OK``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt

from smshook.errors import InvalidRequest, SignatureError
from smshook.events import Event, FailureClass, iso
from smshook.providers import formats
from smshook.providers.base import ConnectionInfo, Option, Provider, RawRequest

HEADER = "messagebird-signature-jwt"
ALGORITHMS = ["HS256", "HS384", "HS512"]
LEEWAY = 1  # seconds, as MessageBird's SDK
STOP_CODE = "103"  # statusErrorCode: the recipient sent STOP (courier)

# statusReason -> failure class, for failures without a classifying code (MessageBird's reasons)
REASON_CLASSES: dict[str, FailureClass] = {
    "unknown subscriber": "permanent",
    "unavailable subscriber": "temporary",
    "expired": "temporary",
    "insufficient balance": "temporary",
    "carrier rejected": "permanent",
    "blocked": "permanent",
}


def check_signature(key: str, token: str | None, url: str, body: bytes, now: float) -> dict[str, Any]:
    """MessageBird's ``RequestValidator`` rules, with ``now`` as the clock; returns the claims or
    raises :class:`~smshook.errors.SignatureError` naming what failed."""
    if not token:
        raise SignatureError("missing header MessageBird-Signature-JWT: the request is not signed", reason="missing")
    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(), key, algorithms=ALGORITHMS, issuer="MessageBird",
            options={"require": ["iss", "nbf", "exp"], "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False},
        )
    except jwt.InvalidAlgorithmError:
        raise SignatureError("JWT algorithm is not HS256, HS384 or HS512") from None
    except jwt.InvalidSignatureError:
        raise SignatureError("JWT signature does not match (wrong signing_key?)") from None
    except jwt.InvalidTokenError as exc:
        raise SignatureError(f"JWT refused: {exc}") from None
    nbf, exp = claims["nbf"], claims["exp"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (nbf, exp)):
        raise SignatureError("JWT nbf/exp are not numbers")
    if nbf > now + LEEWAY:
        raise SignatureError(f"JWT is not valid yet (nbf is {nbf - now:.0f} s ahead): a clock off?", reason="stale")
    if exp <= now - LEEWAY:
        raise SignatureError(f"JWT expired {now - exp:.0f} s ago: a replay, or a clock off", reason="stale")
    url_hash = claims.get("url_hash")
    if not isinstance(url_hash, str) or not hmac.compare_digest(
            url_hash.encode(), hashlib.sha256(url.encode()).hexdigest().encode()):
        raise SignatureError("JWT url_hash does not match the URL called (is public_url exactly the URL "
                               "configured at MessageBird?)")
    payload_hash = claims.get("payload_hash")
    if body and not payload_hash:
        raise SignatureError("JWT has no payload_hash but the request has a body")
    if not body and payload_hash:
        raise SignatureError("JWT has a payload_hash but the request has no body")
    if body and not (isinstance(payload_hash, str) and hmac.compare_digest(
            payload_hash.encode(), hashlib.sha256(body).hexdigest().encode())):
        raise SignatureError("JWT payload_hash does not match the body")
    return claims


def sign(key: str, url: str, body: bytes, now: int, *, jti: str, algorithm: str = "HS256") -> str:
    """A ``MessageBird-Signature-JWT`` for a request (the simulator signs with it)."""
    claims: dict[str, Any] = {"iss": "MessageBird", "nbf": now, "exp": now + 60, "jti": jti,
                              "url_hash": hashlib.sha256(url.encode()).hexdigest()}
    if body:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    return jwt.encode(claims, key, algorithm=algorithm)


class MessageBird(Provider):
    slug = "messagebird"
    name = "MessageBird"
    docs_url = "https://docs.bird.com/connectivity-platform/advanced-functionalities/receiving-delivery-reports-dlrs"
    methods = frozenset({"GET", "POST"})
    signs_url = True  # the signature covers the URL as configured in the portal
    options = (
        Option("signing_key", secret=True,
               doc="MessageBird's signing key (Developers: API access, Signing key; not the API key); set: every "
                   "callback needs a valid MessageBird-Signature-JWT for the URL called (see public_url)."),
    )
    statuses = {
        "scheduled": ("pending", None),
        "sent": ("sent", None),
        "buffered": ("buffered", None),
        "delivered": ("delivered", None),
        "expired": ("expired", "temporary"),
        "delivery_failed": ("undelivered", None),  # class from statusErrorCode / statusReason
    }

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return bool(connection.options.get("signing_key"))

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        key = connection.options.get("signing_key")
        if key:
            check_signature(str(key), request.header(HEADER) or None, request.url, request.body,
                            request.now().timestamp())

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        fields = formats.form_fields(request)
        if "status" in fields:
            return [self._status(fields)]
        if "originator" in fields:
            return [self._inbound(request, fields, connection)]
        raise InvalidRequest("neither a status report (no 'status') nor an inbound message (no 'originator')")

    def _status(self, fields: dict[str, str]) -> Event:
        raw = formats.require(fields, "status")
        status, failure = self.status_of(raw)
        code = formats.optional(fields, "statusErrorCode")
        reason = formats.optional(fields, "statusReason")
        if status == "undelivered" and failure is None:
            failure = "permanent" if code == STOP_CODE else REASON_CLASSES.get((reason or "").lower())
        when = formats.optional(fields, "statusDatetime")
        used = {"id", "reference", "recipient", "status", "statusDatetime", "mccmnc", "price[amount]",
                "price[currency]"}
        details: dict[str, Any] = {k: v for k, v in fields.items() if k not in used}
        if code == STOP_CODE:
            details["opt_out"] = "STOP"
        price = formats.decimal_text(formats.optional(fields, "price[amount]"), field="price[amount]")
        mccmnc = formats.optional(fields, "mccmnc")
        return Event(
            type="status", message_id=formats.require(fields, "id"), status=status, provider_status=raw,
            failure_class=failure if status not in ("delivered", "sent", "pending", "buffered") else None,
            to=formats.phone(formats.optional(fields, "recipient")), reference=formats.optional(fields, "reference"),
            occurred_at=_rfc3339(when, "statusDatetime") if when else None,
            price=price, currency=formats.optional(fields, "price[currency]") if price is not None else None,
            network={"mccmnc": mccmnc, "operator": None, "country": None} if mccmnc else None, details=details,
        )

    def _inbound(self, request: RawRequest, fields: dict[str, str], connection: ConnectionInfo) -> Event:
        shortcode = formats.optional(fields, "shortcode")
        if shortcode is not None:
            text = fields.get("message", fields.get("body", ""))
            ident = formats.optional(fields, "mid") or formats.optional(fields, "id")
            to: str | None = shortcode
            used = {"shortcode", "message", "mid", "originator", "receive_datetime"}
        else:
            text = fields.get("body", fields.get("message", ""))
            ident = formats.optional(fields, "id")
            to = formats.optional(fields, "recipient") or formats.optional(fields, "receiver")
            used = {"recipient", "receiver", "body", "id", "originator", "createdDatetime", "CreatedDatetime"}
        created = formats.optional(fields, "createdDatetime") or formats.optional(fields, "CreatedDatetime")
        received = formats.optional(fields, "receive_datetime")
        if created:
            occurred = _rfc3339(created, "createdDatetime")
        elif received:
            occurred = formats.parse_time(received, "%Y%m%d%H%M%S", self.zone(connection), field="receive_datetime")
        else:
            occurred = None
        details: dict[str, Any] = {k: v for k, v in fields.items() if k not in used and not k.startswith("mediaUrls")}
        media = [v for k, v in parse_qsl(request.body.decode("latin-1") if request.body.isascii() else
                                         request.body.decode("utf-8", "replace"), keep_blank_values=True)
                 if k in ("mediaUrls", "mediaUrls[]")] if request.body else []
        if media:
            details["media"] = media
        if occurred is not None and received and not created:
            details["receive_datetime"] = iso(occurred)
        return Event(
            type="inbound", message_id=ident, channel="mms" if media else "sms",
            from_=formats.phone(formats.require(fields, "originator")), to=formats.phone(to), text=text,
            keyword=formats.first_word(text), occurred_at=occurred, details=details,
        )


def _rfc3339(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"field {name!r}: {value[:64]!r} is not an RFC 3339 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


PROVIDER = MessageBird
