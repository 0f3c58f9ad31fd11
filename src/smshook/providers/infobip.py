"""Infobip: batched delivery reports and inbound messages, unsigned.

Both arrive as ``POST`` JSON ``{"results": [...]}``, up to 100 items per request (one event per
item; the answer only once all are stored). Reports carry ``messageId``, ``bulkId``, ``to``,
``from``/``sender``, ``sentAt``/``doneAt`` (``2016-10-06T09:28:39.220+0000``), ``smsCount`` (newer:
``messageCount``), ``mccMnc``, ``callbackData`` (our reference, echoed), ``price{pricePerMessage,
currency}``, ``status{groupId, groupName, id, name, description}`` and ``error{groupId, groupName, id,
name, description, permanent}``. Inbound items carry ``from``, ``to``, ``text``, ``cleanText``,
``keyword``, ``receivedAt``, ``smsCount`` (MMS: ``message[]`` parts instead of ``text``). An empty
batch (``messageCount: 0``) is nothing to do.

Infobip does not sign callbacks. Protect a connection with a URL ``token``, ``allow_ips`` (Infobip's
published ranges), or HTTP basic auth: set ``basic_user``/``basic_password`` and put them in the
URL you give Infobip (``https://user:password@host/hooks/NAME``). The answer is ``200``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from smshook.errors import InvalidRequest, ProviderError, SignatureError
from smshook.events import Event, FailureClass, iso
from smshook.providers import formats, jsonbody
from smshook.providers.base import ConnectionInfo, Option, Provider, RawRequest, Response

# status.name values whose unified status differs from their group's (inferred from the names)
NAME_STATUSES: dict[str, str] = {
    "PENDING_ACCEPTED": "pending",  # accepted by Infobip, not yet forwarded
    "PENDING_ENROUTE": "sent",
    "UNDELIVERABLE_REJECTED_OPERATOR": "rejected",
}
FAILED = frozenset({"undelivered", "expired", "rejected", "failed"})


def check_basic_auth(authorization: str, user: str, password: str) -> None:
    """``Authorization: Basic base64(user:password)`` must name exactly this user and password
    (compared in constant time); raises :class:`~smshook.errors.SignatureError` (reason
    ``missing`` or ``credentials``)."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise SignatureError("missing HTTP basic-auth credentials (put basic_user:basic_password in the URL given "
                             "to Infobip)", reason="missing")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("Authorization header is not valid Base64", reason="credentials") from None
    expected = f"{user}:{password}".encode()
    if not hmac.compare_digest(given, expected):
        raise SignatureError("basic-auth user or password does not match this connection", reason="credentials")


class Infobip(Provider):
    slug = "infobip"
    name = "Infobip"
    docs_url = ("https://www.infobip.com/docs/api/channels/sms/sms-messaging/logs-and-status-reports/"
                "receive-outbound-sms-message-report")
    methods = frozenset({"POST"})
    options = (
        Option("basic_user", doc="HTTP basic-auth user Infobip sends (written in the URL you give Infobip); "
                                 "with basic_password, checked on every callback."),
        Option("basic_password", secret=True, doc="HTTP basic-auth password, with basic_user."),
    )
    together = (("basic_user", "basic_password"),)  # one without the other protects nothing
    auth_kind = "credentials"
    # status.groupName (or groupId) -> unified status
    statuses = {
        "PENDING": ("sent", None),  # forwarded (e.g. to the operator), delivery not confirmed
        "UNDELIVERABLE": ("undelivered", None),
        "DELIVERED": ("delivered", None),
        "EXPIRED": ("expired", None),
        "REJECTED": ("rejected", None),
        "1": ("sent", None),
        "2": ("undelivered", None),
        "3": ("delivered", None),
        "4": ("expired", None),
        "5": ("rejected", None),
    }

    def authenticated(self, connection: ConnectionInfo) -> bool:
        return bool(connection.options.get("basic_user")) and bool(connection.options.get("basic_password"))

    def verify(self, request: RawRequest, connection: ConnectionInfo) -> None:
        user, password = connection.options.get("basic_user"), connection.options.get("basic_password")
        if user is None and password is None:
            return
        if not user or not password:
            raise SignatureError("this connection sets only one of basic_user and basic_password: set both",
                                 reason="credentials")
        check_basic_auth(request.header("authorization"), str(user), str(password))

    def reject(self, request: RawRequest, error: ProviderError) -> Response:
        response = super().reject(request, error)
        if isinstance(error, SignatureError):  # ask for credentials, as HTTP clients expect
            return Response(response.status, response.body, response.content_type,
                            (("www-authenticate", 'Basic realm="smshook"'),))
        return response

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        data = jsonbody.load(request.body)
        if "results" not in data:
            raise InvalidRequest("missing field 'results': not an Infobip report or inbound batch")
        events = []
        for index, item in enumerate(jsonbody.items(data, "results")):
            try:
                if "status" in item:
                    events.append(self._report(item))
                elif any(k in item for k in ("text", "message", "cleanText", "receivedAt")):
                    events.append(_inbound(item))
                else:
                    raise InvalidRequest("neither a report (no 'status') nor an inbound message (no 'text')")
            except InvalidRequest as exc:
                raise InvalidRequest(f"results[{index}]: {exc}") from exc
        return events

    def _report(self, item: dict[str, Any]) -> Event:
        status_obj = jsonbody.obj(item, "status", required=True)
        group = jsonbody.text(status_obj, "groupName", "status.")
        group_id = jsonbody.text(status_obj, "groupId", "status.")
        name = jsonbody.text(status_obj, "name", "status.")
        raw = name or group or group_id
        if raw is None:
            raise InvalidRequest("field 'status' has no name, groupName or groupId")
        status, _ = self.status_of((group or "").upper()) if group else self.status_of(group_id or "")
        status = NAME_STATUSES.get((name or "").upper(), status)
        error = jsonbody.obj(item, "error")
        failure: FailureClass | None = None
        if status in FAILED and error and str(error.get("groupId", "")) not in ("0", ""):
            permanent = error.get("permanent")
            failure = "permanent" if permanent is True else "temporary" if permanent is False else None
        used = {"messageId", "to", "from", "sender", "doneAt", "sentAt", "mccMnc", "callbackData", "price",
                "channel"}
        details: dict[str, Any] = {k: v for k, v in item.items() if k not in used}
        sent = jsonbody.time(item, "sentAt")
        done = jsonbody.time(item, "doneAt")
        if sent is not None:
            details["sent_at"] = iso(sent)
        if done is not None:
            details["done_at"] = iso(done)
        if error and error.get("id") not in (None, 0, "0"):
            details["error_code"] = error.get("id")
        price, currency = _price(item)
        mccmnc = jsonbody.text(item, "mccMnc")
        return Event(
            type="status", message_id=jsonbody.text(item, "messageId", required=True), status=status,
            provider_status=raw, failure_class=failure, channel=_channel(item),
            from_=formats.phone(jsonbody.text(item, "from") or jsonbody.text(item, "sender")),
            to=formats.phone(jsonbody.text(item, "to")), reference=jsonbody.text(item, "callbackData"),
            occurred_at=done or sent, price=price, currency=currency,
            submitted_at=sent,  # the start of the message's time to delivery (smshook.lifecycle)
            network={"mccmnc": mccmnc, "operator": None, "country": None} if mccmnc else None,
            details=details, key_extra=f"to={jsonbody.text(item, 'to') or ''}",
        )


def _inbound(item: dict[str, Any]) -> Event:
    text = jsonbody.text(item, "text")
    details: dict[str, Any] = {k: v for k, v in item.items()
                               if k not in ("messageId", "from", "to", "text", "receivedAt", "callbackData",
                                            "price", "keyword", "channel")}
    channel = _channel(item)
    parts = jsonbody.array(item, "message")
    if text is None and parts:  # MMS: text/plain parts are the text, the rest media
        texts = [str(p["value"]) for p in parts if isinstance(p, dict) and isinstance(p.get("value"), str)
                 and str(p.get("contentType", "")).startswith("text/plain")]
        text = "\n".join(texts) if texts else None
        channel = "mms"
    keyword = jsonbody.text(item, "keyword")
    price, currency = _price(item)
    received = jsonbody.time(item, "receivedAt")
    return Event(
        type="inbound", message_id=jsonbody.text(item, "messageId"), channel=channel,
        from_=formats.phone(jsonbody.text(item, "from", required=True)), to=formats.phone(jsonbody.text(item, "to")),
        text=text if text is not None else "", keyword=keyword.upper() if keyword else formats.first_word(text),
        reference=jsonbody.text(item, "callbackData"), occurred_at=received, price=price, currency=currency,
        details=details,
    )


def _price(item: dict[str, Any]) -> tuple[str | None, str | None]:
    price_obj = jsonbody.obj(item, "price")
    price = formats.decimal_text(price_obj.get("pricePerMessage"), field="price.pricePerMessage")
    return price, (jsonbody.text(price_obj, "currency", "price.") if price is not None else None)


def _channel(item: dict[str, Any]) -> str:
    channel = item.get("channel")
    return channel.lower() if isinstance(channel, str) and channel else "sms"


PROVIDER = Infobip
