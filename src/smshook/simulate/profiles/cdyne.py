"""Simulator profile: CDYNE (see :mod:`smshook.simulate`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from smshook.simulate.common import FORM, Ctx, Item, Profile, Request, any_2xx, form, us_number

# -- CDYNE -----------------------------------------------------------------------------------------

# ("sent", "1"/"0") is an SMSSent postback, ("dr", code) a DeliveryReceipt; short codes only get receipts.
CDYNE_SHORT: list[tuple[int, tuple[tuple[str, str], ...]]] = [
    (50, (("sent", "1"), ("dr", "003"), ("dr", "000"))),
    (10, (("sent", "1"), ("dr", "004"), ("dr", "000"))),
    (6, (("sent", "1"), ("dr", "003"), ("dr", "005"))),
    (4, (("sent", "1"), ("dr", "003"), ("dr", "008"))),
    (3, (("sent", "1"), ("dr", "023"))),
    (2, (("sent", "1"), ("dr", "003"), ("dr", "999"))),
    (3, (("sent", "0"),)),
]
CDYNE_LONG: list[tuple[int, tuple[tuple[str, str], ...]]] = [(90, (("sent", "1"),)), (10, (("sent", "0"),))]
CDYNE_STAT = {"000": "DELIVRD", "003": "DELIVERED TO CARRIER", "004": "ACCEPTD", "005": "UNDELIV",
              "008": "EXPIRED", "023": "REJECTD", "999": "UNKNOWN"}
CDYNE_DELAYS = {"sent": (1, 5), "003": (1, 20), "004": (1, 20), "000": (2, 180), "008": (900, 3600)}
CDYNE_SHORT_CODES = ["87654", "24273", "55155"]
CDYNE_LONG_NUMBER = "17575449510"
CDYNE_TEXTS = ["Yes", "STOP", "C", "Thanks!", "What time tomorrow?", "HELP", "Please call me back"]
ZERO_GUID = "00000000-0000-0000-0000-000000000000"


def guid(ctx: Ctx) -> str:
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def cdyne_message(ctx: Ctx) -> list[Item]:
    short = ctx.rng.random() < 0.6
    msg: dict[str, Any] = {
        "id": ctx.fresh(lambda: guid(ctx)),
        "ref": ctx.rng.choice(["", str(ctx.rng.randint(10000, 99999)), f"order-{ctx.digits(6)}"]),
        "from": ctx.rng.choice(CDYNE_SHORT_CODES) if short else CDYNE_LONG_NUMBER,
        "to": us_number(ctx),
        "carrier_id": str(ctx.rng.randrange(10**16, 10**17)),
    }
    steps = ctx.pick(CDYNE_SHORT if short else CDYNE_LONG)
    submitted, times = ctx.schedule(*(CDYNE_DELAYS.get(v if k == "dr" else k, (2, 120)) for k, v in steps))
    msg["submitted"] = submitted
    ctx.sent.append(msg)
    return [Item(at, {**msg, "kind": kind, "code": code}) for at, (kind, code) in zip(times, steps, strict=True)]


def cdyne_inbound(ctx: Ctx) -> Item:
    data: dict[str, Any] = {"kind": "response", "id": ctx.fresh(lambda: guid(ctx)), "text": ctx.rng.choice(CDYNE_TEXTS)}
    if ctx.sent and ctx.rng.random() < 0.7:  # a reply to one of our messages
        original = ctx.rng.choice(ctx.sent)
        data.update(matched=original["id"], ref=original["ref"], sender=original["to"], ours=original["from"])
    else:
        data.update(matched=ZERO_GUID, ref="", sender=us_number(ctx), ours=CDYNE_LONG_NUMBER)
    return Item(ctx.when(), data, inbound=True)


def us_time(moment: datetime) -> str:
    """``M/d/yyyy h:mm:ss tt`` (CDYNE), UTC."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M:%S} {half}"


def cdyne_render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    if d["kind"] == "response":
        body = form([("SMSResponse", "1"), ("MessageID", d["id"]), ("MatchedMessageID", d["matched"]),
                     ("ReferenceID", d["ref"]), ("FromPhoneNumber", d["sender"]), ("ToPhoneNumber", d["ours"]),
                     ("ResponseReceiveDate", us_time(item.at)), ("Message", d["text"])])
    elif d["kind"] == "sent":
        body = form([("SMSSent", d["code"]), ("MessageID", d["id"]), ("ReferenceID", d["ref"]),
                     ("FromPhoneNumber", d["from"]), ("ToPhoneNumber", d["to"]), ("SentTime", us_time(item.at))])
    else:
        code = d["code"]
        receipt = (f"sm: msg: id:{d['carrier_id']} sub:001 dlvrd:{'001' if code == '000' else '000'} "
                   f"submit date:{d['submitted']:%y%m%d%H%M} done date:{item.at:%y%m%d%H%M} "
                   f"stat:{CDYNE_STAT.get(code, 'UNKNOWN')} err:{code} text:")
        # CDYNE sends the receipt text with raw, unencoded spaces and colons.
        body = form([("DeliveryReceipt", "1"), ("MessageID", d["id"]), ("ReferenceID", d["ref"]),
                     ("FromPhoneNumber", d["from"]), ("ToPhoneNumber", d["to"])])
        body += f"&DeliveryReceiptMessage={receipt}&Code={code}"
    return "POST", "", (("Content-Type", FORM), ("User-Agent", "CDYNE SMSv2")), body.encode()


PROFILE = Profile(cdyne_message, cdyne_render, any_2xx, cdyne_inbound)
