"""Amazon SNS HTTP(S) subscriptions: AWS End User Messaging SMS two-way messages and SMS delivery events.

SNS ``POST``\\ s a JSON envelope, labelled ``text/plain; charset=UTF-8``: ``Type``
(``SubscriptionConfirmation``, ``Notification``, ``UnsubscribeConfirmation``), ``MessageId``,
``TopicArn``, ``Message`` (a *string*), ``Timestamp``, ``SignatureVersion`` (``1``: RSA SHA-1, the
default; ``2``: RSA SHA-256), ``Signature`` and ``SigningCertURL``; confirmations add ``Token`` and
``SubscribeURL``, notifications ``Subject`` and ``UnsubscribeURL``.

Every request is verified before anything is read from it: the certificate is taken only from an
``https://sns.<region>.amazonaws.com[.cn]/….pem`` URL (fetched without redirects, cached), the
signature checked over the canonical string (``name\\nvalue\\n`` for the signed keys, in order), and
the ``TopicArn`` checked against the connection's ``topic_arns``. A ``SubscriptionConfirmation`` for
an allowed topic is stored and answered 200, and its ``SubscribeURL`` fetched in the background
(:mod:`smshook.providers.sns_confirm`); an ``UnsubscribeConfirmation`` is stored and logged. A
``Notification``'s ``Message`` is parsed as JSON: a two-way inbound SMS (``originationNumber``,
``messageBody`` ...) or an SMS delivery event (``eventType``, ``eventTimestamp`` in milliseconds,
``isFinal``, ``mcc``/``mnc``, ``totalMessagePrice``). Raw message delivery (no envelope, no
signature) is refused with an error naming the setting.

The answer is ``200 OK``; ``503`` when the store cannot commit (SNS retries server errors: 3 times,
20 s apart, by default).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from smshook.errors import AuthError, InvalidRequest, SignatureError
from smshook.events import Event, FailureClass
from smshook.providers import formats
from smshook.providers.base import ConnectionInfo, Option, Outcome, Parsed, Provider, RawRequest, Response
from smshook.providers.sns_confirm import CONFIRMER, HOST

log = logging.getLogger("smshook.providers.sns")

TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}")
TYPES = ("SubscriptionConfirmation", "Notification", "UnsubscribeConfirmation")
SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SIGNED_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_CERTIFICATE = 64 * 1024
RAW_DELIVERY = ("raw message delivery is enabled on this SNS subscription: the message arrived without SNS's "
                "signed envelope, so it cannot be verified; set the subscription attribute RawMessageDelivery "
                "to false")

# eventType -> (unified status, failure class). Names from AWS's SMS event list (inferred).
EVENT_TYPES: dict[str, tuple[str, FailureClass | None]] = {
    "TEXT_PENDING": ("pending", None),
    "TEXT_QUEUED": ("pending", None),
    "TEXT_SUCCESSFUL": ("sent", None),
    "TEXT_DELIVERED": ("delivered", None),
    "TEXT_TTL_EXPIRED": ("expired", "temporary"),
    "TEXT_UNREACHABLE": ("undelivered", "temporary"),
    "TEXT_CARRIER_UNREACHABLE": ("undelivered", "temporary"),
    "TEXT_INVALID": ("rejected", "permanent"),
    "TEXT_INVALID_MESSAGE": ("rejected", "permanent"),
    "TEXT_BLOCKED": ("rejected", "permanent"),
    "TEXT_CARRIER_BLOCKED": ("rejected", "permanent"),
    "TEXT_SPAM": ("rejected", "permanent"),
    "TEXT_PROTECT_BLOCKED": ("rejected", "permanent"),
    "TEXT_OPTED_OUT": ("rejected", "permanent"),
    "TEXT_UNKNOWN": ("unknown", None),
}
OPTED_OUT = "TEXT_OPTED_OUT"
_INBOUND_USED = frozenset({"originationNumber", "destinationNumber", "messageKeyword", "messageBody",
                           "inboundMessageId", "previousPublishedMessageId"})
_EVENT_USED = frozenset({"eventType", "eventTimestamp", "originationPhoneNumber", "destinationPhoneNumber",
                         "messageId", "mcc", "mnc", "totalMessagePrice"})
_MAX_MS_DIGITS = 15


# -- the signing certificate ---------------------------------------------------------------------

CertificateSource = Callable[[str], bytes]


def fetch_certificate(url: str, *, transport: httpx.BaseTransport | None = None) -> bytes:
    """The PEM at an (already checked) SNS certificate URL: HTTPS, no redirects, 5 s, at most 64 KiB."""
    try:
        with httpx.Client(transport=transport, follow_redirects=False, timeout=5.0) as client, \
                client.stream("GET", url) as response:
            if response.status_code != 200:
                raise AuthError(f"SigningCertURL answered {response.status_code} (redirects are not followed)",
                                status=503)
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_CERTIFICATE:
                    raise AuthError("SigningCertURL: the certificate is larger than 64 KiB")
            return data
    except httpx.HTTPError as exc:  # AWS unreachable: let SNS retry later (503), store nothing
        raise AuthError(f"could not fetch the SNS signing certificate: {type(exc).__name__}", status=503) from exc


def check_certificate_url(url: str) -> None:
    """Only ``https://sns.<region>.amazonaws.com[.cn]/….pem``: never a certificate from anywhere else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AuthError("SigningCertURL is not a URL") from None
    if (parts.scheme != "https" or parts.username is not None or parts.password is not None or port is not None
            or not HOST.fullmatch(parts.hostname or "") or not parts.path.endswith(".pem")):
        raise AuthError(f"SigningCertURL {url[:200]!r} is not an https://sns.<region>.amazonaws.com/….pem URL")


class Certificates:
    """SNS signing keys by certificate URL: fetched once through ``source`` (replaceable in tests),
    then cached (a bounded LRU; AWS rotates its certificate rarely)."""

    def __init__(self, source: CertificateSource = fetch_certificate, size: int = 32) -> None:
        self.source = source
        self.size = size
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._lock = threading.Lock()

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        check_certificate_url(url)
        with self._lock:
            key = self._keys.get(url)
            if key is not None:
                self._keys.move_to_end(url)
                return key
        pem = self.source(url)
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise AuthError("SigningCertURL did not return a PEM certificate") from None
        key = certificate.public_key()  # type: ignore[assignment]
        if not isinstance(key, rsa.RSAPublicKey):
            raise AuthError("the SNS signing certificate does not hold an RSA key")
        with self._lock:
            self._keys[url] = key
            while len(self._keys) > self.size:
                self._keys.popitem(last=False)
        return key

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


CERTIFICATES = Certificates()


def canonical(envelope: Mapping[str, Any]) -> bytes:
    """The string SNS signs: ``name\\nvalue\\n`` for each signed key present, in SNS's order."""
    kind = envelope.get("Type")
    keys = SIGNED_NOTIFICATION if kind == "Notification" else SIGNED_CONFIRMATION
    out = []
    for key in keys:
        value = envelope.get(key)
        if value is None:
            if key == "Subject":
                continue
            raise AuthError(f"field {key!r} is missing: it is part of the signed string")
        if not isinstance(value, str):
            raise AuthError(f"field {key!r} must be a string")
        out.append(f"{key}\n{value}\n")
    return "".join(out).encode("utf-8")


def verify(envelope: Mapping[str, Any], certificates: Certificates = CERTIFICATES) -> None:
    """Check the envelope's signature with the certificate from its ``SigningCertURL``; AuthError if not."""
    version = envelope.get("SignatureVersion", "1")
    algorithm = HASHES.get(version) if isinstance(version, str) else None
    if algorithm is None:
        raise AuthError(f"SignatureVersion {str(version)[:10]!r} is not 1 or 2")
    url, signature = envelope.get("SigningCertURL"), envelope.get("Signature")
    if not isinstance(url, str) or not isinstance(signature, str):
        raise AuthError("the envelope has no Signature or SigningCertURL")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise AuthError("Signature is not Base64") from None
    message = canonical(envelope)
    key = certificates.public_key(url)
    try:
        key.verify(raw, message, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise AuthError("the SNS signature does not match the message") from None


# -- the adapter ---------------------------------------------------------------------------------


def _topic_arns(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one SNS topic ARN")
    for arn in value:
        if not TOPIC_ARN.fullmatch(arn):
            raise ValueError(f"{arn!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
    return value


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be a number of seconds above 0")
    return value


class Sns(Provider):
    slug = "sns"
    name = "Amazon SNS"
    docs_url = "https://docs.aws.amazon.com/sns/latest/dg/sns-http-https-endpoint-as-subscriber.html"
    methods = frozenset({"POST"})
    options = (
        Option("topic_arns", list, required=True, check=_topic_arns,
               doc="The SNS topic ARNs whose messages this connection accepts (any other topic is refused)."),
        Option("confirm_subscriptions", bool, default=True,
               doc="Fetch the SubscribeURL of a subscription confirmation for these topics in the background."),
        Option("max_age", float, check=_positive,
               doc="Refuse messages whose signed Timestamp is older than this many seconds (SNS keeps it on "
                   "retries for up to an hour: allow at least 3600)."),
    )
    statuses = EVENT_TYPES

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return bool(topic_arns(connection))  # AWS's signature, and topics of one's own

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        """The signature (certificate from AWS only), the topic, and the age of ``Timestamp``."""
        try:
            envelope = self.envelope(request)
        except AuthError as exc:
            raise SignatureError(exc.message, reason="missing", status=exc.status) from None
        except InvalidRequest as exc:  # not an envelope: nothing that could be verified
            raise SignatureError(exc.message, reason="missing") from None
        try:
            verify(envelope)
        except SignatureError:
            raise
        except AuthError as exc:
            reason = "unavailable" if exc.status == 503 else "signature"
            raise SignatureError(exc.message, reason=reason, status=exc.status) from None
        self.check_topic(envelope, connection)
        self.check_age(envelope, connection, request.now())

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        envelope = self.envelope(request)
        events = self.events(envelope)
        if envelope["Type"] == "Notification":
            return events
        # A confirmation: no event; acknowledge() acts on it once the request is stored.
        return Parsed(events, Confirmation(connection.name, envelope["Type"], str(envelope.get("TopicArn")),
                                           str(envelope.get("SubscribeURL") or ""), envelope.get("MessageId"),
                                           bool(connection.options.get("confirm_subscriptions", True))))

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        """200 once stored; then a stored SubscriptionConfirmation is confirmed in the background."""
        if not outcome.stored:
            return Response(503, b"store unavailable, retry later")
        context = outcome.context
        if isinstance(context, Confirmation):
            if context.kind == "SubscriptionConfirmation":
                CONFIRMER.submit(context.connection, context.topic, context.url, context.message_id, context.confirm)
            else:
                CONFIRMER.unsubscribed(context.connection, context.topic, context.message_id)
        return Response(200, b"OK")

    # The steps of verify and parse, each usable alone.
    @staticmethod
    def envelope(request: RawRequest) -> dict[str, Any]:
        """The JSON envelope, whatever the Content-Type says; AuthError when it is not one (raw delivery)."""
        if request.header("x-amz-sns-rawdelivery").strip().lower() == "true":
            raise AuthError(RAW_DELIVERY)
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidRequest("body is not a JSON object (an SNS envelope)")
        if "Type" not in data and "Signature" not in data:
            raise AuthError(RAW_DELIVERY)
        kind = data.get("Type")
        if kind not in TYPES:
            raise InvalidRequest(f"field 'Type': {str(kind)[:40]!r} is not one of {', '.join(TYPES)}")
        header = request.header("x-amz-sns-message-type")
        if header and header != kind:
            raise InvalidRequest(f"x-amz-sns-message-type {header[:40]!r} differs from Type {kind!r}")
        return data

    @staticmethod
    def check_topic(envelope: Mapping[str, Any], connection: ConnectionInfo) -> None:
        topic = envelope.get("TopicArn")
        if topic not in topic_arns(connection):
            raise SignatureError(f"topic {str(topic)[:200]!r} is not in this connection's topic_arns",
                                 reason="topic", status=403)

    @staticmethod
    def check_age(envelope: Mapping[str, Any], connection: ConnectionInfo, now: datetime) -> None:
        max_age = connection.options.get("max_age")
        if max_age is None:
            return
        try:
            stamp = sns_time(envelope.get("Timestamp"), field="Timestamp")
        except InvalidRequest as exc:
            raise SignatureError(exc.message, reason="stale", status=403) from None
        if stamp is None or (now - stamp).total_seconds() > float(max_age):
            raise SignatureError(f"Timestamp {envelope.get('Timestamp')!r} is older than max_age ({max_age} s)",
                                 reason="stale", status=403)

    def events(self, envelope: Mapping[str, Any]) -> list[Event]:
        kind = envelope["Type"]
        if kind != "Notification":
            # Stored as a raw request, no event; a SubscriptionConfirmation is confirmed after it is stored.
            return []
        message = envelope.get("Message")
        if not isinstance(message, str):
            raise InvalidRequest("field 'Message' must be a string")
        try:
            body = orjson.loads(message)
        except orjson.JSONDecodeError:
            raise InvalidRequest("field 'Message' is not JSON: neither a two-way SMS nor an SMS event "
                                 "(publish those to this topic only)") from None
        if not isinstance(body, dict):
            raise InvalidRequest("field 'Message' is not a JSON object")
        sent = sns_time(envelope.get("Timestamp"), field="Timestamp")
        details: dict[str, Any] = {"sns_message_id": envelope.get("MessageId")}
        if isinstance(envelope.get("Subject"), str):
            details["subject"] = envelope["Subject"]
        if "eventType" in body:
            return [self._event(body, details)]
        if "originationNumber" in body or "messageBody" in body:
            return [self._inbound(body, details, sent)]
        raise InvalidRequest("field 'Message' is neither a two-way SMS (originationNumber, messageBody) nor an "
                             "SMS event (eventType)")

    def _inbound(self, body: Mapping[str, Any], details: dict[str, Any], sent: datetime | None) -> Event:
        text = body.get("messageBody")
        if text is not None and not isinstance(text, str):
            raise InvalidRequest("field 'messageBody' must be a string")
        keyword = formats.optional(body, "messageKeyword")
        details.update({k: v for k, v in body.items() if k not in _INBOUND_USED})
        return Event(
            type="inbound",
            message_id=formats.optional(body, "inboundMessageId"),
            from_=formats.phone(formats.require(body, "originationNumber")),
            to=formats.phone(formats.optional(body, "destinationNumber")),
            text=text or "",
            keyword=keyword.upper() if keyword else formats.first_word(text),
            reply_to=formats.optional(body, "previousPublishedMessageId"),
            occurred_at=sent,  # the message itself carries no time: the envelope's
            details=details,
        )

    def _event(self, body: Mapping[str, Any], details: dict[str, Any]) -> Event:
        code = formats.require(body, "eventType")
        status, failure = self.status_of(code)
        final = body.get("isFinal")
        if final is not None and not isinstance(final, bool):
            raise InvalidRequest("field 'isFinal' must be true or false")
        if final is False and failure is not None:
            failure = "temporary"  # AWS still tries: not the end of this message
        mcc, mnc = formats.optional(body, "mcc"), formats.optional(body, "mnc")
        for name, value in (("mcc", mcc), ("mnc", mnc)):
            if value is not None and not (value.isascii() and value.isdigit() and len(value) <= 3):
                raise InvalidRequest(f"field {name!r}: {value[:10]!r} is not a mobile {name.upper()}")
        details.update({k: v for k, v in body.items() if k not in _EVENT_USED})
        if code == OPTED_OUT:  # the recipient sent STOP: the same signal as the other providers' opt-outs
            details["opt_out"] = "STOP"
        price = formats.decimal_text(body.get("totalMessagePrice"), field="totalMessagePrice")
        return Event(
            type="status",
            message_id=formats.require(body, "messageId"),
            status=status,
            provider_status=code,
            failure_class=failure,
            from_=formats.phone(formats.optional(body, "originationPhoneNumber")),
            to=formats.phone(formats.optional(body, "destinationPhoneNumber")),
            occurred_at=millis(body.get("eventTimestamp"), field="eventTimestamp"),
            price=price,
            currency="USD" if price is not None else None,
            network={"mccmnc": mcc + mnc, "operator": None, "country": None} if mcc and mnc else None,
            details=details,
        )


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What parse learned from a Subscription/UnsubscribeConfirmation, for acknowledge."""

    connection: str
    kind: str
    topic: str
    url: str
    message_id: str | None
    confirm: bool


def topic_arns(connection: ConnectionInfo) -> tuple[str, ...]:
    value = connection.options.get("topic_arns") or ()
    return (value,) if isinstance(value, str) else tuple(value)


def sns_time(value: Any, *, field: str) -> datetime | None:
    """SNS's ``2012-04-26T20:45:04.751Z`` as a UTC time."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.endswith("Z") or len(value) > 40:
        raise InvalidRequest(f"field {field!r}: {str(value)[:40]!r} is not an ISO 8601 UTC time")
    try:
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRequest(f"field {field!r}: {value!r} is not an ISO 8601 UTC time") from None


def millis(value: Any, *, field: str) -> datetime | None:
    """Unix milliseconds (a number, or digits) as a UTC time."""
    if value is None:
        return None
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= _MAX_MS_DIGITS):
        raise InvalidRequest(f"field {field!r}: {str(value)[:20]!r} is not Unix time in milliseconds")
    number = int(text)
    try:
        return datetime.fromtimestamp(number // 1000, UTC).replace(microsecond=(number % 1000) * 1000)
    except (OverflowError, OSError, ValueError):
        raise InvalidRequest(f"field {field!r}: {text!r} is out of range") from None


PROVIDER = Sns
