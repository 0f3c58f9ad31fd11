"""CDYNE SMS Notify! (now Esendex US): "sent" notices, delivery receipts, replies and inbound SMS.

Every postback is a ``POST`` form body (``User-Agent: CDYNE SMSv2``; query-string fields are read
too) to one URL, and its kind is told by which flag field is present:

* ``SMSSent`` — ``1``: handed to the aggregator (``sent``); ``0``: the aggregator refused it
  (``failed``, temporary). Fields ``MessageID``, ``ReferenceID``, ``FromPhoneNumber``,
  ``ToPhoneNumber``, ``SentTime``.
* ``SMSResponse=1`` — a reply or a fresh inbound message: ``MatchedMessageID`` names the message it
  answers (missing, empty or all zeros — Esendex's ``00000000-0000-0000-0000-00000000000`` too —
  means none); ``MessageID`` is the inbound message's own id; ``ResponseReceiveDate``, ``Message``.
* ``DeliveryReceipt=1`` — short codes only: ``Code`` (3 digits, kept as a string) and the carrier's
  raw SMPP-style ``DeliveryReceiptMessage`` (``id:… sub:… dlvrd:… submit date:YYMMDDhhmm done
  date:… stat:… err:… text:…``, sent with raw spaces and colons; the shape varies by carrier), and
  ``BackupMessageID`` when the message was resent from a backup number.

Dates are US-style UTC without a zone marker: ``5/8/2010 2:42:36 AM``. The answer is not
documented: ``200`` with a short body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from smshook.errors import InvalidRequest
from smshook.events import Event
from smshook.providers import formats
from smshook.providers.base import ConnectionInfo, Provider, RawRequest

US_TIME = "%m/%d/%Y %I:%M:%S %p"  # M/d/yyyy h:mm:ss tt; strptime takes single or double digits

# Fields each kind of postback defines; anything else is kept in details.
_COMMON = frozenset({"MessageID", "ReferenceID", "FromPhoneNumber", "ToPhoneNumber"})
_KNOWN = {
    "SMSSent": _COMMON | {"SMSSent", "SentTime"},
    "SMSResponse": _COMMON | {"SMSResponse", "MatchedMessageID", "ResponseReceiveDate", "Message"},
    "DeliveryReceipt": _COMMON | {"DeliveryReceipt", "DeliveryReceiptMessage", "Code"},
}


class Cdyne(Provider):
    slug = "cdyne"
    name = "CDYNE SMS Notify!"
    docs_url = "http://wiki.cdyne.com/index.php/SMS_Notify!_PostBackURLs"
    methods = frozenset({"POST"})
    # DeliveryReceipt Code -> unified status (http://wiki.cdyne.com/index.php/SMS_Delivery_Receipt).
    statuses = {
        "000": ("delivered", None),  # delivered to the device
        "003": ("sent", None),  # delivered to the carrier
        "004": ("sent", None),  # accepted by the carrier
        "005": ("undelivered", "temporary"),  # undelivered or deleted at the carrier
        "008": ("expired", "temporary"),
        "015": ("rejected", "permanent"),  # invalid service type
        "017": ("rejected", "permanent"),  # invalid criteria
        "021": ("rejected", "permanent"),  # message too long
        "023": ("rejected", "permanent"),
        "024": ("undelivered", "temporary"),
        "028": ("failed", "temporary"),  # carrier throttling
        "029": ("failed", "temporary"),
        "030": ("failed", "temporary"),
        "032": ("rejected", "permanent"),  # bad format or content too long
        "090": ("rejected", "permanent"),  # bad address
        "091": ("rejected", "permanent"),  # invalid routing
        "999": ("unknown", None),  # unknown carrier error
    }

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        fields = formats.form_fields(request)
        kind = next((flag for flag in _KNOWN if formats.optional(fields, flag)), None)
        if kind is None:
            raise InvalidRequest("none of the flag fields 'SMSSent', 'SMSResponse', 'DeliveryReceipt'")
        flag = formats.require(fields, kind)
        if flag not in (("0", "1") if kind == "SMSSent" else ("1",)):
            raise InvalidRequest(f"field {kind!r}: unexpected value {flag!r}")
        details: dict[str, Any] = {k: v for k, v in fields.items() if k not in _KNOWN[kind]}
        common: dict[str, Any] = {
            "from_": formats.phone(formats.optional(fields, "FromPhoneNumber")),
            "to": formats.phone(formats.optional(fields, "ToPhoneNumber")),
            "reference": formats.optional(fields, "ReferenceID"),
        }

        if kind == "SMSSent":
            return [Event(
                type="status",
                message_id=formats.require(fields, "MessageID"),
                status="sent" if flag == "1" else "failed",
                provider_status=flag,
                failure_class=None if flag == "1" else "temporary",  # CDYNE retries up to 3 times
                occurred_at=_us_time(fields, "SentTime"),
                submitted_at=_us_time(fields, "SentTime"),  # the start of the message's time to delivery
                details=details,
                **common,
            )]

        if kind == "SMSResponse":
            text = fields.get("Message", "")
            matched = formats.optional(fields, "MatchedMessageID")
            return [Event(
                type="inbound",
                message_id=formats.optional(fields, "MessageID"),
                text=text,
                keyword=formats.first_word(text),
                reply_to=None if _no_match(matched) else matched,
                occurred_at=_us_time(fields, "ResponseReceiveDate"),
                details=details,
                **common,
            )]

        code = formats.require(fields, "Code")
        status, failure = self.status_of(code)
        raw = fields.get("DeliveryReceiptMessage")
        occurred = submitted = None
        if raw is not None:
            receipt, occurred = parse_receipt(raw)
            if receipt.get("submit_date", "").endswith("Z"):  # the carrier's SMPP "submit date"
                submitted = datetime.fromisoformat(receipt["submit_date"].replace("Z", "+00:00"))
            details["receipt"] = receipt
            details["receipt_raw"] = raw
        return [Event(
            type="status",
            message_id=formats.require(fields, "MessageID"),
            status=status,
            provider_status=code,
            failure_class=failure,
            occurred_at=occurred,
            submitted_at=submitted,
            details=details,
            # Two receipts with the same code (e.g. two 003s from different hops) are not retries.
            key_extra=raw or "",
            **common,
        )]


def _us_time(fields: dict[str, str], name: str) -> datetime | None:
    value = formats.optional(fields, name)
    return formats.parse_time(value, US_TIME, "UTC", field=name) if value else None


def _no_match(value: str | None) -> bool:
    """True for a missing, empty or all-zero GUID (whatever its group lengths): no matched message."""
    return not (value or "").strip("{}()").replace("-", "").strip("0")


# Keys of an SMPP-style receipt text; a key starts the text or follows white space.
_RECEIPT_KEY = re.compile(r"(?<!\S)(id|sub|dlvrd|submit date|done date|stat|err|text):", re.IGNORECASE)
_RECEIPT_DATE = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S"}


def parse_receipt(raw: str) -> tuple[dict[str, str], datetime | None]:
    """The keys found in a carrier's receipt text, and its done date.

    Each value runs to the next key; ``text`` runs to the end. Keys are lower-cased with ``_`` for
    spaces; dates (``YYMMDDhhmm``, or with seconds) become ISO 8601 UTC, others are kept as given.
    The done date is read as UTC: the carriers do not say, and CDYNE's own dates are UTC (inferred).
    """
    receipt: dict[str, str] = {}
    matches = list(_RECEIPT_KEY.finditer(raw))
    done: datetime | None = None
    for i, match in enumerate(matches):
        key = match.group(1).lower().replace(" ", "_")
        if key in receipt:  # a repeated key: the first one wins
            continue
        last = key == "text" or i + 1 == len(matches)
        value = raw[match.end():] if last else raw[match.end():matches[i + 1].start()]
        value = value.strip()
        if key in ("submit_date", "done_date") and value.isascii() and value.isdigit() and len(value) in _RECEIPT_DATE:
            try:
                when = datetime.strptime(value, _RECEIPT_DATE[len(value)]).replace(tzinfo=UTC)
            except ValueError:
                when = None  # not a date after all: keep the digits as given
            if when is not None:
                value = when.strftime("%Y-%m-%dT%H:%M:%SZ")
                if key == "done_date":
                    done = when
        receipt[key] = value
        if key == "text":
            break
    return receipt, done


PROVIDER = Cdyne
