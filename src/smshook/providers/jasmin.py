"""Jasmin SMS gateway (open source, the sender runs it): delivery receipts and inbound messages.

Receipts (DLRThrower), requested on Jasmin's ``/send`` with ``dlr=yes&dlr-url=…&dlr-level=1|2|3
&dlr-method=POST|GET``: a form ``POST`` (or ``GET`` query) with ``id`` (Jasmin's message id, as
``/send`` returned it), ``level`` (of *this* receipt: 1 = the SMSC's ``submit_sm_resp``, 2 = its
delivery receipt) and ``message_status`` (level 1: ``ESME_ROK`` or another ``ESME_*`` command status;
level 2: ``DELIVRD``, ``EXPIRED``, ``UNDELIV``...), ``connector`` (level 1: the connector; level 2:
the SMSC's message id), and at level 2 ``id_smsc``, ``sub``, ``dlvrd``, ``subdate``, ``donedate``
(``YYMMDDhhmm`` in the SMSC's zone, or ``ND``), ``err`` and ``text``.

Inbound (deliverSmThrower, through an MO route to an HTTP connector): ``id``, ``from``, ``to``,
``origin-connector``, ``content`` (the raw ``short_message`` bytes), ``binary`` (the same bytes in
hex), ``coding`` (the SMPP ``data_coding`` as a *raw byte*, ``%00``, not the digit) and ``priority``.
The text is decoded by ``coding``: 8 is UCS-2 (UTF-16BE), 3 Latin-1, 0 and 1 ASCII/GSM; binary
codings are kept as hex in ``details.binary``.

The answer is exactly ``ACK/Jasmin`` (status < 400): anything else makes Jasmin retry (``retry_delay``
30 s, ``max_retries`` 3), which is what a store that cannot commit answers.
"""

from __future__ import annotations

import binascii
from datetime import datetime
from typing import Any

from smshook.errors import InvalidRequest
from smshook.events import Event, FailureClass
from smshook.providers import formats, smpp
from smshook.providers.base import ConnectionInfo, Outcome, Provider, RawRequest, Response
from smshook.providers.kannel import raw_query

ACK = Response(200, b"ACK/Jasmin", "text/plain; charset=utf-8")
NOT_ACK = Response(503, b"store unavailable, retry later", "text/plain; charset=utf-8")
DATE = "%y%m%d%H%M"
_DLR_USED = frozenset({"id", "message_status"})
_MO_USED = frozenset({"id", "from", "to", "content", "binary", "coding"})
# data_coding -> codec of the text; others are binary (kept as hex).
CODECS = {0: "default", 1: "ascii", 3: "latin-1", 8: "utf-16-be"}


class Jasmin(Provider):
    slug = "jasmin"
    name = "Jasmin"
    docs_url = "https://docs.jasminsms.com/en/latest/apis/http/index.html"
    methods = frozenset({"GET", "POST"})
    # subdate/donedate are the SMSC's local time: set the connection's timezone when that is not UTC.
    timezone = "UTC"
    statuses = {
        "ESME_ROK": ("sent", None),
        **{name: ("failed", "temporary") for name in smpp.TEMPORARY_ESME.values()},
        **smpp.STATES,
    }

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        raw = raw_query(request.query)
        if request.body:
            raw.update(raw_query(request.body))
        fields = {name: formats.decode_text(value) for name, value in raw.items()}
        if "message_status" in fields:
            return [self._receipt(fields, connection)]
        if "from" in fields and ("content" in fields or "binary" in fields):
            return [self._inbound(fields, raw)]
        raise InvalidRequest("neither a delivery receipt (no 'message_status') nor an inbound message "
                             "(no 'from' and 'content')")

    def _receipt(self, fields: dict[str, str], connection: ConnectionInfo) -> Event:
        code = formats.require(fields, "message_status")
        level = formats.optional(fields, "level")
        if level not in (None, "1", "2"):
            raise InvalidRequest(f"field 'level': {level[:10]!r} is not 1 or 2")
        status, failure = self._status(code)
        details: dict[str, Any] = {k: v for k, v in fields.items() if k not in _DLR_USED}
        return Event(
            type="status",
            message_id=formats.require(fields, "id"),
            status=status,
            provider_status=code,
            failure_class=failure,
            occurred_at=_date(fields.get("donedate"), self.zone(connection), "donedate"),
            submitted_at=smpp.submit_time(fields.get("subdate"), self.zone(connection)),
            details=details,
            key_extra=f"level={level or ''};id_smsc={fields.get('id_smsc', '')}",
        )

    def _status(self, code: str) -> tuple[str, FailureClass | None]:
        if code in self.statuses:
            return self.statuses[code]
        if code.startswith("ESME_R"):  # any other SMPP error status: the SMSC refused the message
            return "rejected", "permanent"
        return "unknown", None

    def _inbound(self, fields: dict[str, str], raw: dict[str, bytes]) -> Event:
        coding = _coding(raw.get("coding", b""))
        data = raw.get("content")
        hex_text = fields.get("binary", "").strip()
        if hex_text:
            try:
                data = binascii.unhexlify(hex_text)
            except (binascii.Error, ValueError):
                raise InvalidRequest("field 'binary' is not hexadecimal") from None
        data = data or b""
        details: dict[str, Any] = {k: v for k, v in fields.items() if k not in _MO_USED}
        details["coding"] = str(coding) if coding is not None else None
        codec = CODECS.get(coding if coding is not None else 0)
        text: str | None
        if codec is None:
            text = None
            details["binary"] = data.hex()
        elif codec == "default":
            text = formats.decode_text(data)
        else:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                raise InvalidRequest(f"content: not valid {codec} for coding {coding} ({exc.reason})") from None
        return Event(
            type="inbound",
            message_id=formats.optional(fields, "id"),
            from_=formats.phone(formats.require(fields, "from")),
            to=formats.phone(formats.optional(fields, "to")),
            text=text,
            keyword=formats.first_word(text),
            details=details,
            key_extra=f"binary={data.hex()}" if text is None else "",
        )

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        return ACK if outcome.stored else NOT_ACK


def _coding(value: bytes) -> int | None:
    """``coding`` as Jasmin sends it: one raw byte (``%00``, ``%08``), or digits from a hand-made request."""
    if not value:
        return None
    if value.isdigit() and len(value) <= 3:
        return int(value)
    if len(value) == 1:
        return value[0]
    raise InvalidRequest(f"field 'coding': {value[:8]!r} is not an SMPP data_coding")


def _date(value: str | None, zone: str, name: str) -> datetime | None:
    if value is None or value.strip() in ("", "ND"):
        return None
    text = value.strip()
    if not (len(text) == 10 and text.isascii() and text.isdigit()):
        raise InvalidRequest(f"field {name!r}: {text[:20]!r} is not a time in the form 'YYMMDDhhmm'")
    return formats.parse_time(text, DATE, zone, field=name)


PROVIDER = Jasmin
