"""Telnyx (API v2 messaging): delivery updates and inbound messages, signed with Ed25519.

One JSON shape for everything: ``{"data": {"event_type", "id", "occurred_at", "payload": {…message…}},
"meta": {"attempt", "delivered_to"}}``. ``message.sent`` and ``message.finalized`` are status updates:
one event **per recipient** of ``payload.to`` (and ``payload.cc``, group MMS), each with that
recipient's ``status``; ``message.received`` is an inbound message (``from.phone_number`` the sender,
``to[0].phone_number`` our number). ``data.id`` identifies the webhook event (the same on a retry),
``payload.id`` the message. Error codes (``errors[].code``) give the failure class; 40300 is a STOP
block (opt-out).

Authenticity: ``telnyx-signature-ed25519`` is the Base64 Ed25519 signature of
``telnyx-timestamp + "|" + raw body`` under the account's public key (Mission Control → Keys &
Credentials → Public Key); the timestamp must be within 300 s of our clock (Telnyx's SDK). The answer
is ``200`` within 2 s; anything else is retried (3 attempts per URL, then the failover URL).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from smshook.errors import InvalidRequest, SignatureError
from smshook.events import Event, FailureClass, iso
from smshook.providers import formats, jsonbody
from smshook.providers.base import ConnectionInfo, Option, Provider, RawRequest

SIGNATURE = "telnyx-signature-ed25519"
TIMESTAMP = "telnyx-timestamp"
WINDOW = 300  # seconds, as Telnyx's SDK (TIMESTAMP_TOLERANCE_SECONDS)
STATUS_EVENTS = frozenset({"message.sent", "message.finalized"})
INBOUND_EVENT = "message.received"

# errors[].code -> failure class (Telnyx's messaging error codes; classes ours from their descriptions)
ERROR_CLASSES: dict[str, FailureClass] = {
    "40001": "permanent",  # not routable (landline, non-routable number)
    "40002": "temporary",  # blocked as spam, temporary
    "40003": "permanent",  # blocked as spam, permanent
    "40004": "temporary",  # rejected by destination: retry after a delay
    "40005": "temporary",  # expired during transmission
    "40006": "temporary",  # recipient server unavailable
    "40007": "permanent",  # message loop
    "40008": "permanent",  # undeliverable
    "40009": "permanent",  # invalid message body
    "40011": "temporary",  # upstream rate limit
    "40012": "permanent",  # invalid destination number
    "40013": "permanent",  # invalid source number
    "40014": "temporary",  # expired in queue
    "40015": "permanent",  # internal spam filter
    "40300": "permanent",  # blocked due to STOP message (the recipient opted out)
}
OPT_OUT_CODES = frozenset({"40300"})


@lru_cache(maxsize=64)
def public_key(value: str) -> Ed25519PublicKey:
    """The account's public key from its Base64 form (32 bytes); ``ValueError`` when it is not one."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be the Base64 public key from the Telnyx portal") from None
    if len(raw) != 32:
        raise ValueError(f"must be a Base64 Ed25519 public key of 32 bytes (got {len(raw)} bytes)")
    return Ed25519PublicKey.from_public_bytes(raw)


def check_signature(key: Ed25519PublicKey, timestamp: str | None, signature: str | None, body: bytes,
                    now: float, *, window: float = WINDOW) -> None:
    """Telnyx's check: ``signature`` (Base64, 64 bytes) is the Ed25519 signature of
    ``timestamp|body`` and ``timestamp`` (Unix seconds) is within ``window`` seconds of ``now``.
    Raises :class:`~smshook.errors.SignatureError` naming what failed."""
    if not signature or not timestamp:
        missing = SIGNATURE if not signature else TIMESTAMP
        raise SignatureError(f"missing header {missing}: the request is not signed by Telnyx", reason="missing")
    stamp = timestamp.strip()
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise SignatureError(f"header {TIMESTAMP} {stamp[:24]!r} is not a Unix time")
    skew = now - int(stamp)
    if abs(skew) > window:
        raise SignatureError(f"{TIMESTAMP} is {abs(skew):.0f} s {'old' if skew > 0 else 'in the future'} "
                             f"(allowed: {window:.0f} s): a replay, or a clock off", reason="stale")
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"header {SIGNATURE} is not Base64") from None
    if len(raw) != 64:
        raise SignatureError(f"header {SIGNATURE} is {len(raw)} bytes, not an Ed25519 signature (64)")
    try:
        key.verify(raw, stamp.encode() + b"|" + body)
    except InvalidSignature:
        raise SignatureError("Ed25519 signature does not match the body and timestamp (wrong public_key, "
                             "or the body was changed on the way)") from None


def _check_public_key(value: str) -> str:
    public_key(value)
    return value.strip()


class Telnyx(Provider):
    slug = "telnyx"
    name = "Telnyx"
    docs_url = "https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks"
    methods = frozenset({"POST"})
    options = (
        Option("public_key", check=_check_public_key,
               doc="Telnyx's Base64 Ed25519 public key (Mission Control: Keys & Credentials, Public Key); "
                   "set: every callback must carry a valid telnyx-signature-ed25519 no older than 300 s."),
    )
    statuses = {
        "queued": ("pending", None),
        "sending": ("pending", None),
        "sent": ("sent", None),
        "delivered": ("delivered", None),
        "delivery_failed": ("undelivered", None),  # class from errors[].code
        "sending_failed": ("failed", None),  # class from errors[].code
        "expired": ("expired", "temporary"),
        "delivery_unconfirmed": ("unknown", None),  # final for Telnyx, not for us: a later final counts
    }

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return bool(connection.options.get("public_key"))

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        key = connection.options.get("public_key")
        if not key:
            return
        check_signature(public_key(str(key)), request.header(TIMESTAMP) or None, request.header(SIGNATURE) or None,
                        request.body, request.now().timestamp())

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        root = jsonbody.load(request.body)
        data = jsonbody.obj(root, "data", required=True)
        event_type = jsonbody.text(data, "event_type", "data.", required=True)
        payload = jsonbody.obj(data, "payload", "data.", required=True)
        meta = jsonbody.obj(root, "meta")
        common: dict[str, Any] = {"event_id": jsonbody.text(data, "id", "data."), "event_type": event_type}
        if "attempt" in meta:
            common["attempt"] = meta["attempt"]
        occurred = jsonbody.time(data, "occurred_at", "data.") if _is_time(data.get("occurred_at")) else None
        if event_type in STATUS_EVENTS:
            return self._statuses(payload, common, occurred)
        if event_type == INBOUND_EVENT:
            return [self._inbound(payload, common, occurred)]
        raise InvalidRequest(f"event_type {event_type!r} is not a message event "
                             f"(message.sent, message.finalized, message.received)")

    def _statuses(self, payload: dict[str, Any], common: dict[str, Any],
                  occurred: datetime | None) -> list[Event]:
        message_id = jsonbody.text(payload, "id", "data.payload.", required=True)
        recipients = [("to", i, r) for i, r in enumerate(jsonbody.array(payload, "to", "data.payload."))]
        recipients += [("cc", i, r) for i, r in enumerate(jsonbody.array(payload, "cc", "data.payload."))]
        if not recipients:
            raise InvalidRequest("field 'data.payload.to' lists no recipient")
        errors = _errors(payload)
        codes = [code for code, _ in errors]
        details = {**common, **_message_details(payload)}
        sender = _number(jsonbody.obj(payload, "from", "data.payload."), "data.payload.from.")
        price, currency = _cost(payload) if len(recipients) == 1 else (None, None)
        when = occurred or _first_time(payload, ("completed_at", "sent_at"))
        submitted = _first_time(payload, ("sent_at",))  # the start of the message's time to delivery
        events = []
        for field, index, recipient in recipients:
            path = f"data.payload.{field}[{index}]."
            if not isinstance(recipient, dict):
                raise InvalidRequest(f"field {path[:-1]!r} must be an object")
            raw = jsonbody.text(recipient, "status", path, required=True) or ""
            status, failure = self.status_of(raw)
            if failure is None and status in ("undelivered", "failed", "expired", "rejected"):
                failure = next((ERROR_CLASSES[c] for c in codes if c in ERROR_CLASSES), None)
            number = _number(recipient, path)
            extra = {k: v for k, v in recipient.items() if k not in ("phone_number", "status")}
            event_details = {**details, **({"recipient": extra} if extra else {})}
            if field == "cc":
                event_details["cc"] = True
            if any(c in OPT_OUT_CODES for c in codes):
                event_details["opt_out"] = "STOP"
            events.append(Event(
                type="status", message_id=message_id, status=status, provider_status=raw,
                failure_class=failure if status not in ("delivered", "sent", "pending") else None,
                channel=_channel(payload), from_=sender, to=number, occurred_at=when, submitted_at=submitted,
                price=price, currency=currency, network=_network(recipient),
                details=event_details, key_extra=f"to={number or ''};event={common['event_type']}",
            ))
        return events

    def _inbound(self, payload: dict[str, Any], common: dict[str, Any], occurred: datetime | None) -> Event:
        recipients = jsonbody.array(payload, "to", "data.payload.")
        ours = recipients[0] if recipients else {}
        if not isinstance(ours, dict):
            raise InvalidRequest("field 'data.payload.to[0]' must be an object")
        sender = jsonbody.obj(payload, "from", "data.payload.", required=True)
        text = jsonbody.text(payload, "text", "data.payload.") or ""
        details = {**common, **_message_details(payload)}
        details.pop("text", None)
        if len(recipients) > 1:
            details["to_all"] = recipients
        price, currency = _cost(payload)
        return Event(
            type="inbound", message_id=jsonbody.text(payload, "id", "data.payload."), channel=_channel(payload),
            from_=_number(sender, "data.payload.from."), to=_number(ours, "data.payload.to[0]."), text=text,
            keyword=formats.first_word(text),
            occurred_at=_first_time(payload, ("received_at",)) or occurred,
            price=price, currency=currency, network=_network(sender), details=details,
        )


# payload fields that become event fields (the rest go to details as given)
_MAPPED = frozenset({"id", "to", "cc", "from", "cost", "type", "record_type", "errors"})
_TIMES = ("received_at", "sent_at", "completed_at", "valid_until")


def _message_details(payload: dict[str, Any]) -> dict[str, Any]:
    details = {k: v for k, v in payload.items() if k not in _MAPPED and k not in _TIMES and v not in (None, [], {})}
    for name in _TIMES:  # times in UTC
        if _is_time(payload.get(name)):
            details[name] = iso(jsonbody.time(payload, name, "data.payload."))
    errors = _errors(payload)
    if errors:
        details["errors"] = payload["errors"]
        details["error_code"] = errors[0][0]
    if payload.get("cost") not in (None, {}):
        details["cost"] = payload["cost"]
    return details


def _errors(payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for index, error in enumerate(jsonbody.array(payload, "errors", "data.payload.")):
        if not isinstance(error, dict):
            raise InvalidRequest(f"field 'data.payload.errors[{index}]' must be an object")
        code = jsonbody.text(error, "code", f"data.payload.errors[{index}].")
        if code is not None:
            out.append((code, error))
    return out


def _is_time(value: Any) -> bool:
    """A time value worth reading (Telnyx's docs show the placeholder ``"date-time"``)."""
    return isinstance(value, str) and value[:1].isdigit()


def _first_time(payload: dict[str, Any], names: tuple[str, ...]) -> datetime | None:
    for name in names:
        if _is_time(payload.get(name)):
            return jsonbody.time(payload, name, "data.payload.")
    return None


def _number(party: dict[str, Any], path: str) -> str | None:
    return formats.phone(jsonbody.text(party, "phone_number", path))


def _channel(payload: dict[str, Any]) -> str:
    kind = jsonbody.text(payload, "type", "data.payload.")
    return kind.lower() if kind else "sms"


def _cost(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    cost = jsonbody.obj(payload, "cost", "data.payload.")
    price = formats.decimal_text(cost.get("amount"), field="data.payload.cost.amount")
    return price, (jsonbody.text(cost, "currency", "data.payload.cost.") if price is not None else None)


def _network(party: dict[str, Any]) -> dict[str, str | None] | None:
    carrier = party.get("carrier")
    return {"mccmnc": None, "operator": carrier, "country": None} if isinstance(carrier, str) and carrier else None


PROVIDER = Telnyx
