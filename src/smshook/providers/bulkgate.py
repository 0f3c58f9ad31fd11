"""BulkGate: batched delivery receipts and inbound SMS, plus a per-event GET form.

Bulk form: ``POST``, ``Content-Type: application/json``, body a JSON array of items (BulkGate's own
sample ends an object with a trailing comma: accepted). Per-event form: the same fields one event at
a time as a ``GET`` query string (or a form body); inbound messages may add ``smsdetails`` and
``udh``. Values arrive as strings; numbers are accepted too.

Each item has ``status`` (1 delivered, 2 buffered, 3 undelivered, 13 read on Viber, 10 = an inbound
SMS, not a status), ``smsID``, ``to``, ``price`` (in credits), ``channel`` and ``date``: the send and
delivery times as two ``yymmddHHMM`` stamps in Prague local time joined by ``;``
(``1904111007;1904111011``), either half possibly missing. They are *not* Unix timestamps, whatever
BulkGate's sample PHP does. Inbound items carry ``from`` and the text in ``message`` (the table) or
``text`` (the sample). The answer is not documented: 200 ``OK``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smshook.errors import InvalidRequest
from smshook.events import Event, iso
from smshook.providers import formats
from smshook.providers.base import ConnectionInfo, Provider, RawRequest

INBOUND = 10
DATE_FORMAT = "%y%m%d%H%M"


class BulkGate(Provider):
    slug = "bulkgate"
    name = "BulkGate"
    docs_url = "https://help.bulkgate.com/docs/en/http-api-bulk-delivery-confirmations-and-incoming-sms.html"
    methods = frozenset({"GET", "POST"})
    timezone = "Europe/Prague"
    statuses = {
        "1": ("delivered", None),
        "2": ("buffered", None),  # held at the SMSC, recipient unavailable
        "3": ("undelivered", "permanent"),  # unknown or unreachable recipient
        "13": ("read", None),  # Viber only
    }

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        events = []
        for index, item in enumerate(_items(request)):
            try:
                event = self._event(item, connection)
            except InvalidRequest as exc:
                raise InvalidRequest(f"item[{index}]: {exc}") from exc
            if event.type == "inbound" and event.message_id is None and event.occurred_at is None:
                # Nothing in such a row tells two equal texts from one sender apart. A retry is a
                # byte-identical resend, so the request's digest and the row's position do.
                digest = hashlib.blake2b(request.query + b"?" + request.body, digest_size=8).hexdigest()
                event.key_extra += f";request={digest};row={index}"
            events.append(event)
        return events

    def _event(self, item: Mapping[str, Any], connection: ConnectionInfo) -> Event:
        code = formats.require(item, "status")
        number = formats.integer(code, field="status", digits=4, what="a BulkGate status code")
        inbound = number == INBOUND
        text_field = "message" if item.get("message") is not None else "text"
        used = {"status", "smsID", "to", "price", "channel", "date"}
        if inbound:
            used |= {"from", text_field}
        sent, delivered = _halves(formats.optional(item, "date"), self.zone(connection))
        details = {k: v for k, v in item.items() if k not in used}
        if sent:
            details["sent_at"] = iso(sent)
        if delivered:
            details["delivered_at"] = iso(delivered)
        status, failure = (None, None) if inbound else self.status_of(str(number))
        text = _text(item.get(text_field), text_field) if inbound else None
        price = formats.decimal_text(formats.optional(item, "price"), field="price")
        return Event(
            type="inbound" if inbound else "status",
            message_id=formats.optional(item, "smsID"),
            status=status,
            provider_status=code,
            failure_class=failure,
            channel=(formats.optional(item, "channel") or "sms").lower(),
            from_=formats.phone(formats.optional(item, "from")) if inbound else None,
            to=formats.phone(formats.optional(item, "to")),
            text=text,
            keyword=formats.first_word(text),
            occurred_at=delivered or sent,
            submitted_at=None if inbound else sent,  # the start of the message's time to delivery
            price=price,
            currency="credits" if price is not None else None,
            details=details,
            # Batched inbound rows carry no id and no time: the per-event form's extras are all
            # that can tell two equal texts from one sender apart.
            key_extra=";".join(f"{k}={item[k]}" for k in ("smsdetails", "udh") if k in item),
        )


def _items(request: RawRequest) -> list[Mapping[str, Any]]:
    """The items of a request: a JSON array (or one JSON object), else one form of fields."""
    if formats.looks_like_json(request.body):
        data = formats.loads_lenient(request.body.removeprefix(b"\xef\xbb\xbf"))
        items = [data] if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise InvalidRequest("expected a JSON array of items")
        if not items:
            raise InvalidRequest("the JSON array holds no items")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidRequest(f"item[{index}]: expected an object")
        return items
    fields = formats.form_fields(request)
    if "status" not in fields:
        raise InvalidRequest("neither a JSON array of items nor a form with a 'status' field")
    return [fields]


def _halves(value: str | None, tz: str) -> tuple[datetime | None, datetime | None]:
    """``yymmddHHMM;yymmddHHMM`` (send; delivery), local time in ``tz``; either half may be empty."""
    if value is None:
        return None, None
    parts = value.split(";")
    if len(parts) > 2:
        raise InvalidRequest(f"field 'date': {value!r} has more than two times")
    stamps: list[datetime | None] = []
    for half in (*parts, "")[:2]:
        half = half.strip()
        if not half:
            stamps.append(None)
        elif len(half) == 10 and half.isascii() and half.isdigit():
            stamps.append(formats.parse_time(half, DATE_FORMAT, tz, field="date"))
        else:
            raise InvalidRequest(f"field 'date': {half!r} is not a time in the form 'yymmddHHMM'")
    return stamps[0], stamps[1]


def _text(value: Any, name: str) -> str | None:
    """The inbound text as given (not stripped); numbers are read as their digits."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidRequest(f"field {name!r} must be a string")


PROVIDER = BulkGate
