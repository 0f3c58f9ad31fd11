"""Simulator profile: BulkGate (see :mod:`smshook.simulate`)."""

from __future__ import annotations

import json

from smshook.simulate.common import Ctx, Item, Profile, Request, any_2xx, local

# -- BulkGate --------------------------------------------------------------------------------------

BULKGATE_PLANS: list[tuple[int, tuple[tuple[str, str], ...]]] = [  # (statuses, channel)
    (55, (("1", "sms"),)), (15, (("2", "sms"), ("1", "sms"))), (8, (("3", "sms"),)),
    (5, (("2", "sms"), ("3", "sms"))), (5, (("2", "sms"),)), (12, (("1", "viber"), ("13", "viber"))),
]
BULKGATE_PRICES = {"420": "0.71", "421": "0.88", "48": "0.52"}
BULKGATE_TEXTS = ["text odpovědi", "Ano", "Ne", "STOP", "Děkuji, termín potvrzuji.", "Kdy to dorazí?",
                  "Prosím zavolejte mi"]
BULKGATE_ZONE = "Europe/Prague"


def bulkgate_message(ctx: Ctx) -> list[Item]:
    # IDs of one submitted batch share their hex part: 2t2563af3ff285, 3t2563af3ff285, ...
    if "bulkgate_batch" not in ctx.counters or ctx.rng.random() < 0.1:
        ctx.counters["bulkgate_batch"] = ctx.fresh(lambda: ctx.rng.getrandbits(48))
        ctx.counters["bulkgate_n"] = 0
    ctx.counters["bulkgate_n"] += 1
    sms_id = f"{ctx.counters['bulkgate_n']}t{ctx.counters['bulkgate_batch']:012x}"
    country = ctx.pick([(80, "420"), (15, "421"), (5, "48")])
    to = f"{country}{ctx.rng.choice('67')}{ctx.digits(8)}"
    steps = ctx.pick(BULKGATE_PLANS)
    submitted, times = ctx.schedule(*((60, 600) if code in ("2", "13") else (60, 240) for code, _ in steps))
    return [Item(at, {"smsID": sms_id, "status": code, "channel": channel, "to": to,
                      "price": BULKGATE_PRICES[country], "submitted": submitted})
            for at, (code, channel) in zip(times, steps, strict=True)]


def bulkgate_inbound(ctx: Ctx) -> Item:
    text_field = "text" if ctx.rng.random() < 0.2 else "message"  # BulkGate's sample says "text"
    sender = f"420{ctx.rng.choice('67')}{ctx.digits(8)}"
    return Item(ctx.when(), {"status": "10", "from": sender, text_field: ctx.rng.choice(BULKGATE_TEXTS)}, inbound=True)


def bulkgate_render(ctx: Ctx, items: list[Item]) -> Request:
    rows = []
    for item in items:
        d = item.data
        if item.inbound:
            rows.append(d)
            continue
        sent = f"{local(d['submitted'], BULKGATE_ZONE):%y%m%d%H%M}"
        done = "" if d["status"] == "2" else f"{local(item.at, BULKGATE_ZONE):%y%m%d%H%M}"
        rows.append({"status": d["status"], "smsID": d["smsID"], "price": d["price"], "date": f"{sent};{done}",
                     "to": d["to"], "channel": d["channel"]})
    body = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()
    return "POST", "", (("Content-Type", "application/json"),), body


PROFILE = Profile(bulkgate_message, bulkgate_render, any_2xx, bulkgate_inbound, batch=100)
