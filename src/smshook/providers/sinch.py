"""Sinch SMS REST API ("xms"): delivery reports and inbound messages, optionally HMAC-signed.

All ``POST`` JSON, told apart by ``type``:

* ``recipient_delivery_report_sms`` / ``_mms`` (``per_recipient`` and ``per_recipient_final``
  reports): one recipient's status, with the detail ``code``, ``at`` (when Sinch made the report) and
  ``operator_status_at`` (the operator's time, preferred for ``occurred_at``);
* ``delivery_report_sms`` / ``_mms`` (``summary``/``full`` batch reports): ``statuses[]`` of
  ``{code, status, count, recipients?}``; ``full`` names the recipients (one event each), ``summary``
  only counts them (one event per status, ``to`` null, the count in ``details``);
* ``mo_text``, ``mo_binary`` (Base64 body, hex ``udh``) and ``mo_media`` (MMS: ``body.message``,
  ``body.subject``, ``body.media[]``): inbound messages.

``message_id`` is the ``batch_id`` every report carries (the id the send call returned);
``client_reference`` becomes ``reference``. Statuses arrive as ``Delivered`` (callbacks) or
``DELIVERED`` (the SDK's enum): compared case-insensitively, kept raw. Numbers come with and
without ``+``.

Authenticity: with a ``webhook_secret``, ``x-sinch-webhook-signature`` must be
``Base64(HMAC(secret, raw body + "." + nonce + "." + timestamp))`` with the nonce and timestamp of
``x-sinch-webhook-signature-nonce``/``-timestamp``, HMAC-SHA256 (``HmacSHA256``, the default) or
HMAC-SHA512 (``HmacSHA512``) per ``x-sinch-webhook-signature-algorithm``; the timestamp within 300 s.
Answer: any 2xx; Sinch retries 5xx and 429 (5 s, then doubling, for up to 22 h), never other 4xx.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from smshook.errors import InvalidRequest, SignatureError
from smshook.events import Event, FailureClass, iso
from smshook.providers import formats, jsonbody
from smshook.providers.base import ConnectionInfo, Option, Provider, RawRequest

SIGNATURE = "x-sinch-webhook-signature"
NONCE = "x-sinch-webhook-signature-nonce"
TIMESTAMP = "x-sinch-webhook-signature-timestamp"
ALGORITHM = "x-sinch-webhook-signature-algorithm"
ALGORITHMS = {"hmacsha256": hashlib.sha256, "hmacsha512": hashlib.sha512}
WINDOW = 300  # seconds (inferred: Sinch states none; its SDK checks none)

RECIPIENT_REPORTS = frozenset({"recipient_delivery_report_sms", "recipient_delivery_report_mms"})
BATCH_REPORTS = frozenset({"delivery_report_sms", "delivery_report_mms"})
INBOUND = frozenset({"mo_text", "mo_binary", "mo_media"})

# Delivery report ``code`` -> failure class (sinch-sdk-java DeliveryReceiptStatusCode); any other code
# is the operator's own (SMPP) error code: kept raw, no class.
CODE_CLASSES: dict[str, FailureClass] = {
    "402": "permanent",  # unroutable
    "403": "temporary",  # internal error
    "404": "temporary",  # temporary delivery failure
    "405": "permanent",  # unmatched parameter
    "406": "temporary",  # internal expiry
    "407": "permanent",  # cancelled
    "408": "permanent",  # internal reject
    "410": "permanent",  # no default originator
    "411": "permanent",  # exceeded parts limit
    "412": "permanent",  # unprovisioned region
    "413": "permanent",  # account blocked
    "414": "permanent",  # MMS: bad media
    "415": "permanent",  # MMS: delivery failure
    "416": "permanent",  # MMS: carrier not supported
    "417": "permanent",  # MMS: recipient not supported
    "418": "permanent",  # MMS: bad MMS content
}
FAILED = frozenset({"undelivered", "expired", "rejected", "failed"})


def signature(secret: str, body: bytes, nonce: str, timestamp: str, algorithm: str = "HmacSHA256") -> str:
    """``x-sinch-webhook-signature`` of a request (Sinch's scheme; the simulator signs with it)."""
    digest = ALGORITHMS.get(algorithm.lower())
    if digest is None:
        raise ValueError(f"unknown algorithm {algorithm!r} (HmacSHA256 or HmacSHA512)")
    signed = body + b"." + nonce.encode() + b"." + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), signed, digest).digest()).decode("ascii")


def check_signature(secret: str, request: RawRequest, now: float, *, window: float = WINDOW) -> None:
    """Sinch's HMAC check on a raw request; raises :class:`~smshook.errors.SignatureError` naming
    what failed."""
    given = request.header(SIGNATURE).strip()
    nonce = request.header(NONCE)
    stamp = request.header(TIMESTAMP).strip()
    if not given:
        raise SignatureError(f"missing header {SIGNATURE}: the request is not signed (is signing on at Sinch?)",
                             reason="missing")
    if not nonce or not stamp:
        raise SignatureError(f"missing header {NONCE if not nonce else TIMESTAMP}", reason="missing")
    algorithm = request.header(ALGORITHM).strip() or "HmacSHA256"
    if algorithm.lower() not in ALGORITHMS:
        raise SignatureError(f"{ALGORITHM} {algorithm[:32]!r} is not HmacSHA256 or HmacSHA512")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise SignatureError(f"header {TIMESTAMP} {stamp[:24]!r} is not a Unix time")
    skew = now - int(stamp)
    if abs(skew) > window:
        raise SignatureError(f"{TIMESTAMP} is {abs(skew):.0f} s {'old' if skew > 0 else 'in the future'} "
                             f"(allowed: {window:.0f} s): a replay, or a clock off", reason="stale")
    expected = signature(secret, request.body, nonce, stamp, algorithm)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureError("HMAC signature does not match (wrong webhook_secret, or the body was changed)")


class Sinch(Provider):
    slug = "sinch"
    name = "Sinch"
    docs_url = "https://developers.sinch.com/docs/sms/api-reference/sms/tag/Webhooks/"
    methods = frozenset({"POST"})
    options = (
        Option("webhook_secret", secret=True,
               doc="The HMAC secret Sinch signs callbacks with (x-sinch-webhook-signature); set: every callback "
                   "must be signed, its timestamp within 300 s."),
    )
    # lower-cased status -> (unified, class when the code does not tell)
    statuses = {
        "queued": ("pending", None),
        "dispatched": ("sent", None),
        "aborted": ("failed", None),
        "cancelled": ("failed", "permanent"),
        "rejected": ("rejected", None),
        "deleted": ("undelivered", "permanent"),  # deleted by a remote SMSC (invalid MSISDN, opted out)
        "delivered": ("delivered", None),
        "failed": ("undelivered", None),
        "expired": ("expired", None),
        "unknown": ("unknown", None),
    }

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return bool(connection.options.get("webhook_secret"))

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        secret = connection.options.get("webhook_secret")
        if secret:
            check_signature(str(secret), request, request.now().timestamp())

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        data = jsonbody.load(request.body)
        kind = jsonbody.text(data, "type", required=True) or ""
        if kind in RECIPIENT_REPORTS:
            return [self._recipient_report(data, kind)]
        if kind in BATCH_REPORTS:
            return self._batch_report(data, kind)
        if kind in INBOUND:
            return [_inbound(data, kind)]
        raise InvalidRequest(f"type {kind!r} is not a Sinch SMS callback (delivery_report_sms, "
                             "recipient_delivery_report_sms, mo_text, mo_binary, mo_media, or the _mms forms)")

    def _status(self, raw: str, code: str | None) -> tuple[str, FailureClass | None]:
        status, failure = self.status_of(raw.strip().lower())
        if status not in FAILED:
            return status, None
        return status, CODE_CLASSES.get(code or "", failure)

    def _recipient_report(self, data: dict[str, Any], kind: str) -> Event:
        raw = jsonbody.text(data, "status", required=True) or ""
        code = jsonbody.text(data, "code")
        status, failure = self._status(raw, code)
        at = jsonbody.time(data, "at")
        operator_at = jsonbody.time(data, "operator_status_at")
        used = {"type", "batch_id", "recipient", "status", "client_reference", "at", "operator_status_at",
                "operator", "applied_originator"}
        details: dict[str, Any] = {k: v for k, v in data.items() if k not in used}
        details["type"] = kind
        if at is not None:
            details["at"] = iso(at)
        if operator_at is not None:
            details["operator_status_at"] = iso(operator_at)
        operator = jsonbody.text(data, "operator")
        return Event(
            type="status", message_id=jsonbody.text(data, "batch_id", required=True), status=status,
            provider_status=raw, failure_class=failure, channel=_channel(kind),
            from_=formats.phone(jsonbody.text(data, "applied_originator")),
            to=formats.phone(jsonbody.text(data, "recipient", required=True)),
            reference=jsonbody.text(data, "client_reference"), occurred_at=operator_at or at,
            network={"mccmnc": operator, "operator": None, "country": None} if operator else None,
            details=details, key_extra=f"to={formats.phone(data.get('recipient')) or ''};code={code or ''}",
        )

    def _batch_report(self, data: dict[str, Any], kind: str) -> list[Event]:
        batch = jsonbody.text(data, "batch_id", required=True)
        reference = jsonbody.text(data, "client_reference")
        common = {k: v for k, v in data.items() if k not in ("type", "batch_id", "statuses", "client_reference")}
        common["type"] = kind
        events = []
        for index, entry in enumerate(jsonbody.items(data, "statuses")):
            path = f"statuses[{index}]."
            raw = jsonbody.text(entry, "status", path, required=True) or ""
            code = jsonbody.text(entry, "code", path)
            status, failure = self._status(raw, code)
            details = {**common, "code": entry.get("code"), "count": entry.get("count")}
            recipients = jsonbody.array(entry, "recipients", path)
            for number in recipients or [None]:
                if number is not None and not isinstance(number, str | int):
                    raise InvalidRequest(f"field '{path}recipients' must hold phone numbers")
                to = formats.phone(str(number)) if number is not None else None
                events.append(Event(
                    type="status", message_id=batch, status=status, provider_status=raw, failure_class=failure,
                    channel=_channel(kind), to=to, reference=reference, details=dict(details),
                    # a summary names no recipient: its counts tell one report from the next
                    key_extra=f"to={to}" if to else f"code={code};count={entry.get('count')};"
                                                    f"total={data.get('total_message_count')}",
                ))
        return events


def _inbound(data: dict[str, Any], kind: str) -> Event:
    used = {"type", "id", "from", "to", "body", "received_at", "sent_at", "client_reference", "operator_id"}
    details: dict[str, Any] = {k: v for k, v in data.items() if k not in used}
    details["type"] = kind
    sent = jsonbody.time(data, "sent_at")
    if sent is not None:
        details["sent_at"] = iso(sent)
    text: str | None
    channel = "sms"
    if kind == "mo_media":
        body = jsonbody.obj(data, "body", required=True)
        text = jsonbody.text(body, "message", "body.")
        details.update({k: v for k, v in body.items() if k != "message"})
        channel = "mms"
    elif kind == "mo_binary":  # binary SMS: the Base64 payload and its UDH (hex), no text
        text = None
        details["body"] = jsonbody.text(data, "body", required=True)
    else:
        text = jsonbody.text(data, "body")
        text = text if text is not None else ""
    operator = jsonbody.text(data, "operator_id")
    return Event(
        type="inbound", message_id=jsonbody.text(data, "id"), channel=channel,
        from_=formats.phone(jsonbody.text(data, "from", required=True)), to=formats.phone(jsonbody.text(data, "to")),
        text=text, keyword=formats.first_word(text), reference=jsonbody.text(data, "client_reference"),
        occurred_at=jsonbody.time(data, "received_at") or sent,
        network={"mccmnc": operator, "operator": None, "country": None} if operator else None, details=details,
    )


def _channel(kind: str) -> str:
    return "mms" if kind.endswith("_mms") else "sms"




PROVIDER = Sinch
