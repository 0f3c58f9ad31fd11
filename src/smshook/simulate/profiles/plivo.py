"""Simulator profile: Plivo (see :mod:`smshook.simulate`).

Status callbacks as form ``POST`` with ``MessageUUID`` (= ``ParentMessageUUID``, ``PartInfo=1 of
1``), ``Status`` ``queued`` → ``sent`` → ``delivered`` (or ``undelivered`` with ``ErrorCode`` 80, 70
or 200 — STOP —, ``failed`` 300/900), ``Sequence``, ``MessageTime``/``QueuedTime``/``SentTime``/
``DeliveryReportTime`` in UTC with microseconds, ``MCC``/``MNC``, ``Units``, rates. Incoming
messages as courier's sample (``Type=sms``, ``Text``, ``Units``), ``MessageIntent`` on STOP/HELP.
Signed with ``auth_token`` (``X-Plivo-Signature-V3`` + nonce; ``-Ma-V3`` too with
``main_auth_token``). Expected answer: 2xx; for an incoming message no ``<Message>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import uuid
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from smshook.simulate.common import FORM, Ctx, Item, Profile, Request, form, us_number

PLANS: list[tuple[int, tuple[tuple[str, str], ...]]] = [
    (60, (("queued", ""), ("sent", ""), ("delivered", ""))), (10, (("sent", ""), ("delivered", ""))),
    (7, (("queued", ""), ("sent", ""), ("undelivered", "80"))), (3, (("sent", ""), ("undelivered", "70"))),
    (2, (("sent", ""), ("undelivered", "200"))), (3, (("failed", "300"),)), (2, (("failed", "900"),)),
]
OUR_NUMBER = "14155552671"
TEXTS = ["Yes", "STOP", "Running late", "HELP", "Thanks", "Confirmed"]
INTENTS = {"STOP": "optout", "HELP": "help"}
TIME = "%Y-%m-%d %H:%M:%S.%f"


def message(ctx: Ctx) -> list[Item]:
    steps = ctx.pick(PLANS)
    data = {"uuid": ctx.fresh(lambda: str(uuid.UUID(int=ctx.rng.getrandbits(128), version=1))),
            "to": us_number(ctx), "units": str(ctx.rng.choice([1, 1, 2]))}
    submitted, times = ctx.schedule(*((0, 2) if s == "queued" else (1, 10) if s in ("sent", "failed") else (2, 240)
                                      for s, _ in steps))
    return [Item(at, {**data, "state": state, "code": code, "seq": str(n + 1), "submitted": submitted})
            for n, (at, (state, code)) in enumerate(zip(times, steps, strict=True))]


def inbound(ctx: Ctx) -> Item:
    return Item(ctx.when(), {"uuid": ctx.fresh(lambda: str(uuid.UUID(int=ctx.rng.getrandbits(128), version=1))),
                             "from": us_number(ctx), "text": ctx.rng.choice(TEXTS)}, inbound=True)


def render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    if item.inbound:
        pairs = [("To", OUR_NUMBER), ("From", d["from"]), ("TotalRate", "0"), ("Units", "1"), ("Text", d["text"]),
                 ("TotalAmount", "0"), ("Type", "sms"), ("MessageUUID", d["uuid"])]
        if d["text"] in INTENTS:
            pairs.append(("MessageIntent", INTENTS[d["text"]]))
    else:
        state = d["state"]
        at = f"{item.at:{TIME}}"
        rate = "0.0050"
        pairs = [("Status", state), ("From", OUR_NUMBER), ("ParentMessageUUID", d["uuid"]), ("TotalRate", rate),
                 ("MCC", "310"), ("PartInfo", "1 of 1"), ("ErrorCode", d["code"]), ("To", d["to"]),
                 ("Units", d["units"]), ("TotalAmount", f"{float(rate) * int(d['units']):.4f}"), ("MNC", "260"),
                 ("MessageUUID", d["uuid"]), ("Sequence", d["seq"]), ("Type", "sms"),
                 ("MessageTime", f"{d['submitted']:{TIME}}"),
                 ("QueuedTime", at if state == "queued" else ""), ("SentTime", at if state == "sent" else ""),
                 ("DeliveryReportTime", at if state in ("delivered", "undelivered") else "")]
    return "POST", "", (("Content-Type", FORM),), form(pairs).encode()


def check(request: Request, body: bytes) -> str | None:
    if b"Status=" not in request[3] and b"<Message" in body:
        return "the answer holds a <Message>: Plivo would send a reply SMS"
    return None


def sign(request: Request, url: str, options: Mapping[str, str], now: datetime) -> Request:
    """``X-Plivo-Signature-V3``: Base64 HMAC-SHA256(token, URL base ? sorted query . sorted body . nonce)."""
    tokens = [(h, options[k]) for h, k in (("X-Plivo-Signature-V3", "auth_token"),
                                            ("X-Plivo-Signature-Ma-V3", "main_auth_token")) if options.get(k)]
    if not tokens:
        return request
    method, query, headers, body = request
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    q = sorted(parse_qsl(parts.query, keep_blank_values=True))
    b = sorted(parse_qsl(body.decode(), keep_blank_values=True))
    text = base + ("?" + "&".join(f"{k}={v}" for k, v in q) if q or b else "") + ("." if q and b else "")
    text += "".join(k + v for k, v in b)
    nonce = str(random.SystemRandom().randrange(10**19, 10**20))
    signed = [(h, base64.b64encode(hmac.new(t.encode(), f"{text}.{nonce}".encode(), hashlib.sha256).digest()).decode())
              for h, t in tokens]
    return method, query, (*headers, *signed, ("X-Plivo-Signature-V3-Nonce", nonce)), body


PROFILE = Profile(message, render, check, inbound, sign=sign,
                  example={"auth_token": "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"})
