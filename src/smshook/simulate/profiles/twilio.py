"""Simulator profile: Twilio (see :mod:`smshook.simulate`).

Status callbacks as form ``POST`` in Twilio's field order (``SmsSid``, ``SmsStatus``,
``MessageStatus``, ``To``, ``MessageSid``, ``AccountSid``, ``From``, ``ApiVersion``; ``ErrorCode``
on failures, ``RawDlrDoneDate`` on final carrier receipts), no callback for the initial ``queued``:
``sent`` then ``delivered`` (or ``undelivered`` 30003/30005, ``failed`` 30007/21610, WhatsApp
``read``). Incoming messages as courier's real sample (``SmsStatus=received``, ``NumSegments``,
``NumMedia``, geography), ``OptOutType`` on STOP/START/HELP. Signed with ``auth_token`` as
``X-Twilio-Signature``. Expected answer: 2xx; for an incoming message TwiML without ``<Message>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl

from smshook.simulate.common import FORM, Ctx, Item, Profile, Request, form, us_number

PLANS: list[tuple[int, tuple[tuple[str, str], ...]]] = [
    (60, (("sent", ""), ("delivered", ""))), (8, (("sent", ""), ("undelivered", "30003"))),
    (3, (("sent", ""), ("undelivered", "30005"))), (3, (("failed", "30007"),)), (2, (("failed", "21610"),)),
    (4, (("sent", ""),)), (10, (("sent", ""), ("delivered", ""), ("read", ""))),
]
OUR_NUMBER = "+15017122661"
WHATSAPP_SENDER = "whatsapp:+14155238886"
ACCOUNT = "AC" + "5ef8732a3c49700934481addd5ce1659"[:32]
TEXTS = ["Yes", "STOP", "See you at 5", "HELP", "Thanks!", "START", "Which store?"]
OPT_OUT = {"STOP": "STOP", "START": "START", "HELP": "HELP"}


def sid(ctx: Ctx, prefix: str = "SM") -> str:
    return ctx.fresh(lambda: f"{prefix}{ctx.rng.getrandbits(128):032x}")


def message(ctx: Ctx) -> list[Item]:
    steps = ctx.pick(PLANS)
    whatsapp = any(state == "read" for state, _ in steps)
    to = f"+{us_number(ctx)}"
    data = {"sid": sid(ctx), "to": f"whatsapp:{to}" if whatsapp else to,
            "from": WHATSAPP_SENDER if whatsapp else OUR_NUMBER}
    _, times = ctx.schedule(*((1, 5) if state in ("sent", "failed") else (2, 240) for state, _ in steps))
    return [Item(at, {**data, "state": state, "code": code}) for at, (state, code) in zip(times, steps, strict=True)]


def inbound(ctx: Ctx) -> Item:
    text = ctx.rng.choice(TEXTS)
    return Item(ctx.when(), {"sid": sid(ctx), "from": f"+{us_number(ctx)}", "text": text,
                             "segments": str(ctx.rng.choice([1, 1, 1, 2]))}, inbound=True)


def render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    if item.inbound:
        pairs = [("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", d["sid"]), ("NumMedia", "0"),
                 ("ToCity", ""), ("FromZip", ""), ("SmsSid", d["sid"]), ("FromState", "VA"), ("SmsStatus", "received"),
                 ("FromCity", ""), ("Body", d["text"]), ("FromCountry", "US"), ("To", OUR_NUMBER), ("ToZip", ""),
                 ("NumSegments", d["segments"]), ("MessageSid", d["sid"]), ("AccountSid", ACCOUNT),
                 ("From", d["from"]), ("ApiVersion", "2010-04-01")]
        if d["text"] in OPT_OUT:
            pairs.append(("OptOutType", OPT_OUT[d["text"]]))
    else:
        pairs = [("SmsSid", d["sid"]), ("SmsStatus", d["state"]), ("MessageStatus", d["state"]), ("To", d["to"]),
                 ("MessageSid", d["sid"]), ("AccountSid", ACCOUNT), ("From", d["from"]), ("ApiVersion", "2010-04-01")]
        if d["code"]:
            pairs.insert(0, ("ErrorCode", d["code"]))
        if d["state"] in ("delivered", "undelivered"):
            pairs.append(("RawDlrDoneDate", f"{item.at:%y%m%d%H%M}"))
    return "POST", "", (("Content-Type", FORM),), form(pairs).encode()


def check(request: Request, body: bytes) -> str | None:
    if b"SmsStatus=received" in request[3]:
        if b"<Response" not in body:
            return "an incoming message must be answered with TwiML <Response/>"
        if b"<Message" in body:
            return "the answer holds a <Message>: Twilio would send a reply SMS"
    return None


def sign(request: Request, url: str, options: Mapping[str, str], now: datetime) -> Request:
    """``X-Twilio-Signature``: Base64 HMAC-SHA1(auth_token, URL + sorted ``name + value``)."""
    token = options.get("auth_token")
    if not token:
        return request
    method, query, headers, body = request
    values: dict[str, set[str]] = {}
    for name, value in parse_qsl(body.decode(), keep_blank_values=True):
        values.setdefault(name, set()).add(value)
    text = url + "".join(n + v for n in sorted(values) for v in sorted(values[n]))
    signature = base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()
    return method, query, (*headers, ("X-Twilio-Signature", signature)), body


PROFILE = Profile(message, render, check, inbound, sign=sign,
                  example={"auth_token": "f0e1d2c3b4a5968778695a4b3c2d1e0f"})
