"""Kannel (the open-source SMS gateway the sender runs): delivery reports and inbound messages.

Kannel calls URL *templates* its user writes, with ``%``-escapes, so there are no fixed field names:
smshook's contract is the recommended templates below (printed ready to paste by
``smshook connections``); parameters a template adds beyond them are kept in ``details``.

Delivery reports, requested per MT on ``sendsms`` with ``dlr-mask=31`` and ``dlr-url`` =
``<hook URL>?id=<your message id>&type=%d&reply=%A&ts=%T&handset=%p&sender=%P&smsc=%i&fid=%F&meta=%D&binfo=%B``:
a ``GET`` per receipt. ``type`` is 8 (accepted by the SMSC), 4 (buffered), 1 (delivered), 2 (not
delivered) or 16 (refused by the SMSC); for SMPP SMSCs ``reply`` (``%A``) holds the receipt text
``id:… stat:… err:…`` that refines 2 (``EXPIRED``, ``REJECTD``...) or, for 16, ``NACK/0x%08lx/<reason>``.
The message id is the sender's own ``id``: Kannel's ``%I`` is a new id on every receipt. In a receipt
``%p`` is the *handset* (the MT's receiver) and ``%P`` our sender; a template that names them ``from``
and ``to`` (Kannel's own examples do) therefore has them swapped, and is read that way.

Inbound (``sms-service`` with ``max-messages = 0``): ``post-url`` =
``<hook URL>?ts=%T&id=%I&coding=%c&charset=%C`` posts the text as the body with ``X-Kannel-From``
(needs ``send-sender = true``), ``X-Kannel-To``, ``X-Kannel-Time``, ``X-Kannel-SMSC``,
``X-Kannel-Coding``, ``X-Kannel-UDH`` headers; ``get-url`` = ``<hook URL>?from=%p&to=%P&text=%b&ts=%T&id=%I
&smsc=%i&coding=%c&charset=%C&udh=%u&kw=%k`` sends it all in the query. The text arrives as raw bytes:
UTF-8 for ``coding=0``, UTF-16BE for UCS-2 (``coding=2``), binary for 8-bit (``coding=1``, charset
``8-BIT``: kept as hex in ``details.binary``); ``charset`` (``%C``) says which.

The answer is ``200`` with an **empty body**: Kannel sends an MO answer's body back to the handset as
an SMS (unless ``max-messages = 0``), and treats anything but 200/202 as a failure, retried only with
``http-request-retry`` and ``http-queue-delay`` set in the ``smsbox`` group. On a failure it ignores
the body (the handset would get ``reply-requestfailed``, which ``max-messages = 0`` suppresses), so a
refused request is answered with the usual error text.
"""

from __future__ import annotations

import codecs
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

from smshook.errors import InvalidRequest
from smshook.events import Event, FailureClass
from smshook.providers import formats, smpp
from smshook.providers.base import ConnectionInfo, Outcome, Provider, RawRequest, Response

EMPTY = Response(200, b"", "text/plain; charset=utf-8")
# What a receipt's own fields are; anything else in the query is kept in details as given.
_DLR_USED = frozenset({"id", "type", "ts", "handset", "sender", "from", "to"})
_MO_USED = frozenset({"from", "to", "text", "ts", "id", "coding", "charset", "udh", "kw"})
_MAX_QUERY_FIELDS = 64
_MAX_TS_DIGITS = 11  # Unix seconds until the year 5138

DLR_TEMPLATE = "?id={id}&type=%d&reply=%A&ts=%T&handset=%p&sender=%P&smsc=%i&fid=%F&meta=%D&binfo=%B"
POST_TEMPLATE = "?ts=%T&id=%I&coding=%c&charset=%C"
GET_TEMPLATE = "?from=%p&to=%P&text=%b&ts=%T&id=%I&smsc=%i&coding=%c&charset=%C&udh=%u&kw=%k"


class Kannel(Provider):
    slug = "kannel"
    name = "Kannel"
    docs_url = "https://www.kannel.org/download/kannel-userguide-snapshot/userguide.html"
    methods = frozenset({"GET", "POST"})
    # X-Kannel-Time (the only non-Unix time) is the Kannel host's local time: set the connection's
    # timezone when that is not UTC. The templates use %T (Unix time) instead.
    timezone = "UTC"
    statuses = {
        "1": ("delivered", None),
        "2": ("undelivered", None),  # refined by the SMSC's stat: in reply
        "4": ("buffered", None),
        "8": ("sent", None),
        "16": ("rejected", "permanent"),  # refined by the SMPP command status in reply
    }

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        query = raw_query(request.query)
        if "type" in query:
            return [self._receipt(query, self.zone(connection))]
        return [self._inbound(request, query, connection)]

    def _receipt(self, query: dict[str, bytes], zone: str) -> Event:
        fields = {name: formats.decode_text(value) for name, value in query.items()}
        code = fields["type"].strip()
        if code not in self.statuses:
            raise InvalidRequest(f"field 'type': {code[:20]!r} is not a Kannel DLR type (1, 2, 4, 8 or 16): "
                                 "use type=%d in the dlr-url")
        message_id = formats.optional(fields, "id")
        if message_id is None:
            raise InvalidRequest("missing field 'id': put your own message id in the dlr-url (id=<your id>), "
                                 "Kannel's %I changes with every receipt")
        reply = fields.get("reply", "")
        status, failure = self.status_of(code)
        details = {k: v for k, v in fields.items() if k not in _DLR_USED}
        receipt = smpp.receipt_fields(reply) if code in ("1", "2", "4") else {}
        if receipt:
            details["stat"] = receipt["stat"]
            if receipt.get("err"):
                details["err"] = receipt["err"]
            if code == "2" and (refined := smpp.state(receipt["stat"])) is not None:
                status, failure = refined
        elif code == "16":
            status, failure = _nack(reply, details)
        # %p is the handset and %P our sender in a receipt, whatever the template calls them.
        handset = fields.get("handset", fields.get("from"))
        sender = fields.get("sender", fields.get("to"))
        return Event(
            type="status",
            message_id=message_id,
            status=status,
            provider_status=code,
            failure_class=failure,
            from_=formats.phone(sender),
            to=formats.phone(handset),
            occurred_at=unix_time(fields.get("ts"), field="ts"),
            # the SMSC's submit date in the receipt text (its local time: the connection's timezone)
            submitted_at=smpp.submit_time(receipt.get("submit date"), zone),
            details=details,
            # One receipt per part of a long MT: the SMSC's id of each part tells them apart.
            key_extra=f"fid={fields.get('fid', '')}",
        )

    def _inbound(self, request: RawRequest, query: dict[str, bytes], connection: ConnectionInfo) -> Event:
        posted = request.method == "POST"
        fields = {name: formats.decode_text(value) for name, value in query.items() if name != "text"}
        sender = request.header("x-kannel-from") or fields.get("from")
        if not sender or not sender.strip():
            if posted:
                raise InvalidRequest("missing sender: no X-Kannel-From header (set send-sender = true in the "
                                     "sms-service group) and no from=%p in the URL")
            raise InvalidRequest("neither a delivery report (no 'type') nor an inbound message (no 'from')")
        recipient = request.header("x-kannel-to") or fields.get("to")
        coding = (request.header("x-kannel-coding") or fields.get("coding") or "0").strip()
        if coding not in ("0", "1", "2"):
            raise InvalidRequest(f"field 'coding': {coding[:20]!r} is not a Kannel coding (0, 1 or 2)")
        charset = fields.get("charset")
        if posted and not charset:
            charset = _charset_param(request.header("content-type"))
        data = request.body if posted else query.get("text", b"")
        text, binary = _decode(data, coding, charset)
        details = {k: v for k, v in fields.items() if k not in _MO_USED}
        details["coding"] = coding
        if binary is not None:
            details["binary"] = binary
        udh = request.header("x-kannel-udh") or query.get("udh", b"").hex()
        if udh:
            details["udh"] = udh
        for header, name in (("x-kannel-smsc", "smsc"), ("x-kannel-service", "service"),
                             ("x-kannel-account", "account"), ("x-kannel-binfo", "binfo")):
            if value := request.header(header):
                details.setdefault(name, value)
        when = unix_time(fields.get("ts"), field="ts")
        if when is None and (local := request.header("x-kannel-time").strip()):
            when = formats.parse_time(local, "%Y-%m-%d %H:%M:%S", self.zone(connection), field="X-Kannel-Time")
        return Event(
            type="inbound",
            message_id=formats.optional(fields, "id"),
            from_=formats.phone(sender),
            to=formats.phone(recipient),
            text=text,
            keyword=formats.first_word(text),
            occurred_at=when,
            details=details,
            key_extra=f"binary={binary}" if binary is not None else "",
        )

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        if not outcome.stored:  # anything but 200/202 is a failure Kannel retries (http-request-retry)
            return Response(503, b"", "text/plain; charset=utf-8")
        return EMPTY

    def setup(self, url: str) -> list[str]:
        """``kannel.conf`` lines with this connection's URL, ready to paste."""
        return [
            "# each MT on sendsms: dlr-mask=31 and dlr-url= this, URL-encoded, with your message id for MSGID",
            url + DLR_TEMPLATE.format(id="MSGID"),
            "# kannel.conf, in the smsbox group: retry failed callbacks (Kannel's default is no retry)",
            "http-request-retry = 5",
            "http-queue-delay = 10",
            "# kannel.conf: inbound messages (max-messages = 0: no reply SMS)",
            "group = sms-service",
            "keyword = default",
            "catch-all = true",
            "max-messages = 0",
            "send-sender = true",
            f'post-url = "{url}{POST_TEMPLATE}"',
            f'# or instead of post-url: get-url = "{url}{GET_TEMPLATE}"',
        ]


def raw_query(query: bytes) -> dict[str, bytes]:
    """A query string's fields as raw bytes (``+`` is a space, ``%XX`` a byte): Kannel puts UCS-2 and
    binary text there undecoded. The first of a repeated field wins."""
    fields: dict[str, bytes] = {}
    if not query:
        return fields
    parts = query.split(b"&")
    if len(parts) > _MAX_QUERY_FIELDS:
        raise InvalidRequest(f"query string has {len(parts)} fields, more than the {_MAX_QUERY_FIELDS} expected")
    for part in parts:
        name, _, value = part.partition(b"=")
        key = formats.decode_text(unquote_to_bytes(name.replace(b"+", b" "))).strip()
        if key and key not in fields:
            fields[key] = unquote_to_bytes(value.replace(b"+", b" "))
    return fields


def unix_time(value: str | None, *, field: str) -> datetime | None:
    """Unix seconds (``%T``) as a UTC time, None when absent or empty."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_TS_DIGITS):
        raise InvalidRequest(f"field {field!r}: {text[:20]!r} is not a Unix time in seconds")
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidRequest(f"field {field!r}: {text!r} is out of range") from None


def _nack(reply: str, details: dict[str, str]) -> tuple[str, FailureClass | None]:
    """Status of a type-16 receipt from Kannel's ``NACK/0x%08lx/<reason>`` reply (SMPP SMSCs)."""
    body = reply[5:] if reply.upper().startswith("NACK/") else reply
    code, _, reason = body.partition("/")
    if code.lower().startswith("0x"):
        try:
            number = int(code, 16)
        except ValueError:
            return "rejected", "permanent"
        details["command_status"] = code
        if reason:
            details["reason"] = reason
        if number in smpp.TEMPORARY_ESME:
            return "failed", "temporary"
    return "rejected", "permanent"


def _charset_param(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


def _decode(data: bytes, coding: str, charset: str | None) -> tuple[str | None, str | None]:
    """(text, binary as hex) of an inbound message's raw bytes, by ``coding`` and ``charset``."""
    codec = _codec(charset)
    if coding == "1" and codec is None:  # 8-bit data (charset 8-BIT): not text
        return None, data.hex()
    if coding == "2" and (codec is None or not codec.startswith("utf-16")):
        codec = "utf-16-be"  # UCS-2 is big-endian UTF-16 whatever a lost charset said
    if codec is None or codec == "utf-8":
        return formats.decode_text(data), None
    try:
        return data.decode(codec), None
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"text: not valid {charset or codec} ({exc.reason} at byte {exc.start})") from None
    except UnicodeError as exc:
        raise InvalidRequest(f"text: not valid {charset or codec} ({exc})") from None


def _codec(charset: str | None) -> str | None:
    """Python's codec name for a charset Kannel names (``UTF-8``, ``UTF-16BE``, ``ISO-8859-1``...), or
    None for ``8-BIT`` and names Python does not know."""
    if not charset or charset.strip().upper() in ("8-BIT", "BINARY") or len(charset) > 40:
        return None
    try:
        info = codecs.lookup(charset.strip())
    except (LookupError, ValueError):  # unknown, or not a name at all (a NUL in it)
        return None
    # Only text encodings: not hex/base64/rot13 (bytes-to-bytes), not "undefined" (always fails).
    return info.name if getattr(info, "_is_text_encoding", True) and info.name != "undefined" else None


PROVIDER = Kannel
