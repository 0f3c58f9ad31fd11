"""Simulator profile: Sinch SMS (see :mod:`smshook.simulate`).

One callback per report, as a batch with ``delivery_report: per_recipient`` produces them:
``recipient_delivery_report_sms`` with ``Dispatched`` (code 401) then ``Delivered`` (0), or a failure
(``Failed`` 402/404, ``Expired`` 406, ``Aborted`` 412, ``Rejected`` 408, ``Deleted``), to Swedish
mobiles with ``+`` or without; inbound ``mo_text`` messages. Signed with the connection's
``webhook_secret`` (HMAC-SHA256 over ``body.nonce.timestamp``) when given.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime

from smshook.providers.sinch import signature
from smshook.simulate.common import Ctx, Item, Profile, Request, any_2xx

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
OUR_NUMBER = "46701000100"
PLANS: list[tuple[int, tuple[tuple[str, int], ...]]] = [
    (72, (("Dispatched", 401), ("Delivered", 0))),
    (6, (("Dispatched", 401), ("Failed", 404))),
    (4, (("Failed", 402),)),
    (5, (("Dispatched", 401), ("Expired", 406))),
    (3, (("Aborted", 412),)),
    (3, (("Rejected", 408),)),
    (3, (("Dispatched", 401), ("Deleted", 11))),
    (4, (("Queued", 400), ("Dispatched", 401), ("Delivered", 0))),
]
TEXTS = ["Ja", "STOPP", "Tack!", "När kommer paketet?", "Hello John! 👋", "STOP", "Nej tack"]


def _ulid(ctx: Ctx) -> str:
    return "01" + "".join(ctx.rng.choice(CROCKFORD) for _ in range(24))


def _mobile(ctx: Ctx) -> str:
    return f"467{ctx.rng.choice('0236')}{ctx.digits(7)}"


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sinch_message(ctx: Ctx) -> list[Item]:
    batch = ctx.fresh(lambda: _ulid(ctx))
    recipient = _mobile(ctx)
    plus = ctx.rng.random() < 0.5
    steps = ctx.pick(PLANS)
    _, times = ctx.schedule(*((0, 2) if status == "Queued" else (1, 10) if status == "Dispatched" else (3, 240)
                              for status, _ in steps))
    return [Item(at, {"batch_id": batch, "recipient": ("+" if plus else "") + recipient, "status": status,
                      "code": code, "reference": f"order-{batch[-6:].lower()}"})
            for at, (status, code) in zip(times, steps, strict=True)]


def sinch_inbound(ctx: Ctx) -> Item:
    return Item(ctx.when(), {"id": ctx.fresh(lambda: _ulid(ctx)), "from": _mobile(ctx), "text": ctx.rng.choice(TEXTS),
                             "operator": ctx.rng.choice(["24001", "24002", "24008"])}, inbound=True)


def sinch_render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    if item.inbound:
        body = {"type": "mo_text", "id": d["id"], "from": d["from"], "to": OUR_NUMBER, "body": d["text"],
                "operator_id": d["operator"], "received_at": _time(item.at)}
    else:
        body = {"type": "recipient_delivery_report_sms", "batch_id": d["batch_id"], "recipient": d["recipient"],
                "code": d["code"], "status": d["status"], "at": _time(item.at), "client_reference": d["reference"]}
        if d["status"] == "Delivered":
            body["operator_status_at"] = _time(item.at)
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return "POST", "", (("Content-Type", "application/json; charset=utf-8"),), raw


def sinch_sign(request: Request, url: str, connection: Mapping[str, str], now: datetime) -> Request:
    method, query, headers, body = request
    nonce = uuid.uuid4().hex.upper()[:26]
    stamp = str(int(now.timestamp()))
    sig = signature(connection["webhook_secret"], body, nonce, stamp)
    return method, query, (*headers, ("x-sinch-webhook-signature", sig), ("x-sinch-webhook-signature-nonce", nonce),
                           ("x-sinch-webhook-signature-timestamp", stamp),
                           ("x-sinch-webhook-signature-algorithm", "HmacSHA256")), body


PROFILE = Profile(sinch_message, sinch_render, any_2xx, sinch_inbound, sign=sinch_sign,
                  example={"webhook_secret": "sinch-simulator-secret-0123456789"})
