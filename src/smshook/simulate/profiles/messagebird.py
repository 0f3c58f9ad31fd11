"""Simulator profile: MessageBird (see :mod:`smshook.simulate`).

Status reports as ``GET`` query strings (``sent`` then ``delivered``, ``buffered`` then
``delivered``, ``delivery_failed`` with a reason and code, 103 = the contact sent STOP, ``expired``)
with ``price[amount]``/``price[currency]`` keys, RFC 3339 ``statusDatetime`` and multipart counts;
inbound SMS as form ``POST`` (long numbers) or with ``shortcode``/``mid``/``receive_datetime``.
Signed with the connection's ``signing_key`` when given: a ``MessageBird-Signature-JWT`` over the
full URL the callback is sent to (or the connection's ``public_url`` plus the query) and the body.
Expected answer: ``200`` with body ``OK``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote, urlencode

from smshook.providers.messagebird import sign
from smshook.simulate.common import FORM, Ctx, Item, Profile, Request

OUR_NUMBER = "3197010260000"
SHORTCODE = "3669"
PLANS: list[tuple[int, tuple[tuple[str, str | None, str | None], ...]]] = [  # (status, reason, code)
    (70, (("sent", None, None), ("delivered", None, None))),
    (8, (("sent", None, None), ("buffered", None, None), ("delivered", None, None))),
    (6, (("sent", None, None), ("delivery_failed", "unknown subscriber", "1"))),
    (5, (("sent", None, None), ("delivery_failed", "unavailable subscriber", "27"))),
    (3, (("sent", None, None), ("delivery_failed", "unknown subscriber", "103"))),
    (5, (("sent", None, None), ("expired", "expired", None))),
    (3, (("scheduled", None, None), ("sent", None, None), ("delivered", None, None))),
]
TEXTS = ["Ja", "STOP", "Bedankt!", "Hoe laat morgen?", "Nee", "INFO"]


def _mobile(ctx: Ctx) -> str:
    return f"316{ctx.digits(8)}"


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def messagebird_message(ctx: Ctx) -> list[Item]:
    ident = ctx.fresh(lambda: f"{ctx.rng.getrandbits(128):032x}")
    recipient = _mobile(ctx)
    parts = ctx.pick([(85, 1), (12, 2), (3, 3)])
    steps = ctx.pick(PLANS)
    _, times = ctx.schedule(*((1, 5) if status in ("sent", "scheduled") else (5, 600) for status, _, _ in steps))
    return [Item(at, {"id": ident, "recipient": recipient, "status": status, "reason": reason, "code": code,
                      "parts": parts, "reference": str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))})
            for at, (status, reason, code) in zip(times, steps, strict=True)]


def messagebird_inbound(ctx: Ctx) -> Item:
    return Item(ctx.when(), {"id": ctx.fresh(lambda: f"{ctx.rng.getrandbits(128):032x}"), "from": _mobile(ctx),
                             "text": ctx.rng.choice(TEXTS), "shortcode": ctx.rng.random() < 0.2}, inbound=True)


def messagebird_render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    if item.inbound:
        if d["shortcode"]:
            pairs = [("shortcode", SHORTCODE), ("message", d["text"]), ("mid", d["id"]), ("originator", d["from"]),
                     ("receive_datetime", item.at.strftime("%Y%m%d%H%M%S"))]
        else:
            pairs = [("originator", d["from"]), ("recipient", OUR_NUMBER), ("body", d["text"]), ("id", d["id"]),
                     ("createdDatetime", _time(item.at))]
        return "POST", "", (("Content-Type", FORM),), urlencode(pairs).encode()
    pairs = [("id", d["id"]), ("reference", d["reference"]), ("recipient", d["recipient"]), ("status", d["status"]),
             ("statusDatetime", _time(item.at)), ("mccmnc", "20416"), ("ported", "0"),
             ("price[amount]", f"{0.072 * d['parts']:.3f}"), ("price[currency]", "EUR"),
             ("messageLength", str(150 * d["parts"])), ("messagePartCount", str(d["parts"])), ("datacoding", "plain")]
    if d["reason"]:
        pairs.append(("statusReason", d["reason"]))
    if d["code"]:
        pairs.append(("statusErrorCode", d["code"]))
    return "GET", urlencode(pairs, quote_via=quote), (), b""


def messagebird_check(request: Request, body: bytes) -> str | None:
    return None if body.strip() == b"OK" else f"body {body[:40]!r} is not OK"


def messagebird_sign(request: Request, url: str, connection: Mapping[str, str], now: datetime) -> Request:
    method, query, headers, body = request
    token = sign(connection["signing_key"], url, body, int(now.timestamp()), jti=str(uuid.uuid4()))
    return method, query, (*headers, ("MessageBird-Signature-JWT", token)), body


PROFILE = Profile(messagebird_message, messagebird_render, messagebird_check, messagebird_inbound,
                  sign=messagebird_sign,
                  example={"signing_key": "5f0c1b7d9e2a4c6f8b1d3e5a7c9f0b2d4e6a8c1f3b5d7e9a0c2e4f6a8b1d3f5c"})
