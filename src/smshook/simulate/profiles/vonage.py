"""Simulator profile: Vonage SMS API (see :mod:`smshook.simulate`).

Delivery receipts in all three account modes, chosen per message (``GET`` query, form ``POST``,
``POST-JSON``), with the trap kept: ``msisdn`` is the handset, ``to`` our sender id. Status
``accepted`` then ``delivered`` (or ``buffered``, ``failed`` with ``err-code`` 2/3/6, ``expired``,
``rejected`` 9); a long message gets one receipt per part, each with its own ``messageId``.
``scts`` and ``message-timestamp`` in UTC. Inbound SMS with ``msisdn`` the sender, ``keyword``
upper-cased, and multipart messages as separate parts with ``concat-ref``/``concat-part``.
Signed with ``signature_secret`` and ``signature_method`` (``timestamp``, ``nonce``, ``sig``).
Expected answer: 2xx.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from smshook.simulate.common import FORM, Ctx, Item, Profile, Request, any_2xx, uk_mobile

PLANS: list[tuple[int, tuple[tuple[str, str], ...]]] = [
    (60, (("accepted", "0"), ("delivered", "0"))), (8, (("accepted", "0"), ("buffered", "0"), ("delivered", "0"))),
    (6, (("accepted", "0"), ("failed", "2"))), (3, (("failed", "3"),)), (2, (("failed", "6"),)),
    (4, (("accepted", "0"), ("expired", "1"))), (3, (("rejected", "9"),)),
]
SENDER = "AcmeInc"
OUR_NUMBER = "447700900123"
TEXTS = ["Yes", "STOP", "Call me later please", "help", "Thanks, see you then"]
LONG = "This is a long reply that did not fit in one SMS so the handset split it into parts, " * 2


def message_id(ctx: Ctx) -> str:
    return ctx.fresh(lambda: f"{ctx.rng.getrandbits(64):016X}")


def message(ctx: Ctx) -> list[Item]:
    steps = ctx.pick(PLANS)
    parts = ctx.rng.choice([1, 1, 1, 2])
    data = {"msisdn": uk_mobile(ctx), "mode": ctx.rng.choice(["GET", "GET", "POST", "JSON"]),
            "price": "0.03330000", "ref": f"order-{ctx.digits(5)}"}
    _, times = ctx.schedule(*((1, 10) if s == "accepted" else (2, 600) for s, _ in steps))
    return [Item(at, {**data, "id": ids, "state": state, "code": code})
            for ids in [message_id(ctx) for _ in range(parts)]
            for at, (state, code) in zip(times, steps, strict=True)]


def inbound(ctx: Ctx) -> Item:
    data: dict[str, Any] = {"id": message_id(ctx), "msisdn": uk_mobile(ctx), "text": ctx.rng.choice(TEXTS),
                            "mode": ctx.rng.choice(["GET", "POST", "JSON"]), "part": ""}
    if ctx.rng.random() < 0.15:  # one part of a long message: Vonage does not reassemble them
        part = ctx.rng.choice([1, 2])
        half = len(LONG) // 2
        data.update(text=LONG[:half] if part == 1 else LONG[half:], part=str(part), ref=ctx.digits(3))
    return Item(ctx.when(), data, inbound=True)


def render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    stamp = f"{item.at:%Y-%m-%d %H:%M:%S}"
    if item.inbound:
        text = d["text"]
        fields: dict[str, str] = {"msisdn": d["msisdn"], "to": OUR_NUMBER, "messageId": d["id"], "text": text,
                                  "type": "text", "keyword": text.split()[0].upper(), "message-timestamp": stamp}
        if d["part"]:
            fields.update({"concat": "true", "concat-ref": d["ref"], "concat-total": "2", "concat-part": d["part"]})
    else:
        fields = {"msisdn": d["msisdn"], "to": SENDER, "network-code": "23410", "messageId": d["id"],
                  "price": d["price"], "status": d["state"], "scts": f"{item.at:%y%m%d%H%M}", "err-code": d["code"],
                  "client-ref": d["ref"], "message-timestamp": stamp}
    return encode(d["mode"], fields)


def encode(mode: str, fields: Mapping[str, str]) -> Request:
    if mode == "GET":
        return "GET", urlencode(list(fields.items())), (), b""
    if mode == "JSON":
        return "POST", "", (("Content-Type", "application/json"),), json.dumps(dict(fields)).encode()
    return "POST", "", (("Content-Type", f"{FORM}; charset=UTF-8"),), urlencode(list(fields.items())).encode()


def sign(request: Request, url: str, options: Mapping[str, str], now: datetime) -> Request:
    """``timestamp``, ``nonce`` and ``sig`` added to the parameters, as Vonage's signed webhooks do."""
    secret = options.get("signature_secret")
    if not secret:
        return request
    method, query, _, body = request
    mode = "GET" if method == "GET" else "JSON" if body.startswith(b"{") else "POST"
    fields: dict[str, Any] = dict(parse_qsl(query if mode == "GET" else body.decode())) if mode != "JSON" \
        else json.loads(body)
    fields.update(timestamp=str(int(now.timestamp())), nonce=str(uuid.uuid4()))
    text = "".join(f"&{k}={str(fields[k]).replace('&', '_').replace('=', '_')}" for k in sorted(fields))
    algorithm = options.get("signature_method") or "md5hash"
    if algorithm == "md5hash":
        sig = hashlib.md5((text + secret).encode(), usedforsecurity=False).hexdigest()
    else:
        sig = hmac.new(secret.encode(), text.encode(), algorithm).hexdigest().upper()  # Vonage's HMACs: upper-case
    fields["sig"] = sig
    return encode(mode, fields)


PROFILE = Profile(message, render, any_2xx, inbound, sign=sign,
                  example={"signature_secret": "vonage-signature-secret-0123", "signature_method": "sha256"})
