"""Webcom Mobi (A2P platform, white-label "smsgate"): batched status updates for SMS and Viber.

Webcom ``POST``s a raw XML **or** JSON document, depending on the account's mode; we tell which by
the content, never by the Content-Type. XML (root ``<response>``, or ``<request>`` in the older spec)::

    <response>
      <state id_sms="3234" time="2011-01-01 12:57:46" sms="deliver">deliver</state>
      <state id_sms="3235" time="2011-01-01 12:57:46" sms="not_deliver" viber="read">read</state>
      <state id_sms="3236" time="" viber="send">send</state>
    </response>

JSON: ``[{"id_sms": "3234", "time": "2011-01-01 12:57:46", "state": "deliver"}, ...]`` (``id_sms`` a
string or a number). The element text / ``state`` is the message's overall status; the optional
``sms`` and ``viber`` attributes carry each channel's own status. ``time`` is ``YYYY-MM-DD HH:MM:SS``
in an undocumented zone (Moscow, inferred) and is empty while the status is ``send``.

The answer lists, in the request's own format, every ``id_sms`` we stored; Webcom resends each one
we leave out (5 attempts). So when the store is down we answer 503 with an empty list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

import orjson

from smshook.errors import InvalidRequest
from smshook.events import Event
from smshook.providers import formats
from smshook.providers.base import ConnectionInfo, Outcome, Parsed, Provider, RawRequest, Response

XML_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json"
ROOTS = frozenset({"response", "request"})
CHANNELS = ("sms", "viber")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
BOM = b"\xef\xbb\xbf"


class Webcom(Provider):
    slug = "webcom"
    name = "Webcom Mobi"
    docs_url = "https://apidocs.webcom.mobi/en/modes-of-interaction/xml-specification/sms-status-request/webhook"
    methods = frozenset({"POST"})
    timezone = "Europe/Moscow"  # inferred: the documents give no zone
    statuses = {
        "send": ("pending", None),  # no status yet; comes with an empty time
        "deliver": ("delivered", None),  # Viber may still become read
        "read": ("read", None),
        "not_deliver": ("undelivered", "temporary"),
        "expired": ("expired", "temporary"),  # the handset was offline at every attempt
        "partly_deliver": ("unknown", None),  # sent, but no status ever came back
    }

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        xml = formats.looks_like_xml(request.body)
        if xml:
            states = _xml_states(request.body)
        elif formats.looks_like_json(request.body):
            states = _json_states(request.body)
        else:
            raise InvalidRequest("body is neither XML nor JSON" if request.body.strip() else "empty body")
        events = []
        for label, fields in states:
            try:
                events.append(self._event(fields, connection))
            except InvalidRequest as exc:
                raise InvalidRequest(f"{label}: {exc}") from exc
        if not events:
            raise InvalidRequest("the document holds no states")
        return Parsed(events, "xml" if xml else "json")  # the answer uses the request's format

    def _event(self, fields: Mapping[str, Any], connection: ConnectionInfo) -> Event:
        message_id = formats.require(fields, "id_sms")
        overall = formats.require(fields, "state")
        when = formats.optional(fields, "time")
        per_channel = {c: s for c in CHANNELS if (s := formats.optional(fields, c)) is not None}
        status, failure = self.status_of(overall)
        # Per-channel statuses (and any attribute Webcom may add) tell two updates of one
        # message with the same overall status apart: they are part of the key, not a retry.
        details: dict[str, Any] = dict(per_channel)
        details.update({k: v for k, v in fields.items() if k not in _KNOWN})
        return Event(
            type="status",
            message_id=message_id,
            status=status,
            provider_status=overall,
            failure_class=failure,
            channel=_channel(per_channel, overall),
            occurred_at=formats.parse_time(when, TIME_FORMAT, self.zone(connection), field="time")
            if when else None,
            details=details,
            key_extra=";".join(f"{k}={v}" for k, v in details.items()),
        )

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        # Stored: every id (duplicates we already had included). Not stored: none, so all are resent.
        stored = outcome.events if outcome.stored else []
        ids = list(dict.fromkeys(e.message_id for e in stored if e.message_id))
        status = 200 if outcome.stored else 503
        xml = outcome.context == "xml" if outcome.context else formats.looks_like_xml(request.body)
        if xml:
            items = "".join(f"<id_sms>{escape(i)}</id_sms>" for i in ids)
            body = f'<?xml version="1.0" encoding="utf-8" ?>\n<response>{items}</response>'
            return Response(status, body.encode(), XML_TYPE)
        return Response(status, orjson.dumps([{"id_sms": _json_id(i)} for i in ids]), JSON_TYPE)


_KNOWN = frozenset({"id_sms", "time", "state", *CHANNELS})


def _xml_states(body: bytes) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """(label, fields) per ``<state>``: its attributes plus the element text as ``state``."""
    root = formats.parse_xml(body.removeprefix(BOM).lstrip())  # expat wants the declaration first
    if root.tag not in ROOTS:
        raise InvalidRequest(f"unexpected XML root <{root.tag}> (expected <response> or <request>)")
    states = []
    for index, element in enumerate(root):
        if element.tag != "state":
            raise InvalidRequest(f"element {index}: unexpected <{element.tag}> (expected <state>)")
        states.append((f"state[{index}]", {**element.attrib, "state": (element.text or "").strip()}))
    return states


def _json_states(body: bytes) -> Iterable[tuple[str, Mapping[str, Any]]]:
    data = formats.loads_lenient(body.removeprefix(BOM))
    if not isinstance(data, list):
        raise InvalidRequest("expected a JSON array of states")
    states = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise InvalidRequest(f"item[{index}]: expected an object")
        if isinstance(item.get("id_sms"), float):  # an id never has a fraction (or overflowed 64 bits)
            raise InvalidRequest(f"item[{index}]: field 'id_sms' must be an integer or a string")
        states.append((f"item[{index}]", item))
    return states


def _channel(per_channel: Mapping[str, str], overall: str) -> str:
    """viber when only Viber reported; with both, the channel whose status is the overall one
    (sms when both or neither are); sms otherwise."""
    if set(per_channel) == {"viber"}:
        return "viber"
    if len(per_channel) == 2 and per_channel["viber"] == overall != per_channel["sms"]:
        return "viber"
    return "sms"


def _json_id(message_id: str) -> int | str:
    """A JSON number when the id is plain digits that survive the round trip (no leading zeros,
    within 64 bits); otherwise the string as received."""
    digits = message_id.isascii() and message_id.isdigit() and len(message_id) <= 18
    if digits and str(int(message_id)) == message_id:
        return int(message_id)
    return message_id


PROVIDER = Webcom
