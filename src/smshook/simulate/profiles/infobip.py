"""Simulator profile: Infobip (see :mod:`smshook.simulate`).

``POST`` JSON ``{"results": [...]}`` batches of 1 to 100 items: delivery reports
(``DELIVERED_TO_HANDSET``; ``UNDELIVERABLE_NOT_DELIVERED`` with a handset error, permanent or not;
``EXPIRED_EXPIRED``; ``REJECTED_NOT_ENOUGH_CREDITS``; ``PENDING_ENROUTE`` first for some) with
``+0000`` times, ``smsCount``, ``mccMnc``, ``callbackData`` and prices, and inbound messages to a
Croatian number (``keyword`` and ``cleanText``). Infobip does not sign: given ``basic_user`` and
``basic_password``, the simulator sends them as HTTP basic auth, as Infobip does for a URL carrying
them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smshook.simulate.common import Ctx, Item, Profile, Request, any_2xx

OUR_NUMBER = "385921004026"
OK = {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error", "permanent": False}
STATUSES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "delivered": ({"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
                   "description": "Message delivered to handset"}, OK),
    "enroute": ({"groupId": 1, "groupName": "PENDING", "id": 3, "name": "PENDING_ENROUTE",
                 "description": "Message sent to next instance"}, OK),
    "absent": ({"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED",
                "description": "Message sent not delivered"},
               {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 27, "name": "EC_ABSENT_SUBSCRIBER",
                "description": "Absent Subscriber", "permanent": False}),
    "unknown": ({"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED",
                 "description": "Message sent not delivered"},
                {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 1, "name": "EC_UNKNOWN_SUBSCRIBER",
                 "description": "Unknown Subscriber", "permanent": True}),
    "expired": ({"groupId": 4, "groupName": "EXPIRED", "id": 15, "name": "EXPIRED_EXPIRED",
                 "description": "Message expired"}, OK),
    "credits": ({"groupId": 5, "groupName": "REJECTED", "id": 12, "name": "REJECTED_NOT_ENOUGH_CREDITS",
                 "description": "Not enough credits"},
                {"groupId": 2, "groupName": "USER_ERRORS", "id": 12, "name": "EC_NOT_ENOUGH_CREDITS",
                 "description": "Not enough credits", "permanent": False}),
}
PLANS: list[tuple[int, tuple[str, ...]]] = [
    (70, ("delivered",)), (8, ("enroute", "delivered")), (6, ("absent",)), (5, ("unknown",)), (6, ("expired",)),
    (5, ("credits",)),
]
KEYWORDS = [("QUIZ", "Paris"), ("STOP", ""), ("INFO", "please"), ("", "Hvala!")]


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def infobip_message(ctx: Ctx) -> list[Item]:
    ident = ctx.fresh(lambda: f"{ctx.rng.getrandbits(64):016x}-{ctx.digits(6)}")
    to = f"3859{ctx.rng.choice('125789')}{ctx.digits(7)}"
    parts = ctx.pick([(85, 1), (15, 2)])
    steps = ctx.pick(PLANS)
    submitted, times = ctx.schedule(*((1, 10) if s == "enroute" else (3, 600) for s in steps))
    return [Item(at, {"messageId": ident, "to": to, "kind": s, "parts": parts, "sent": submitted})
            for at, s in zip(times, steps, strict=True)]


def infobip_inbound(ctx: Ctx) -> Item:
    keyword, rest = ctx.rng.choice(KEYWORDS)
    return Item(ctx.when(), {"messageId": ctx.fresh(lambda: f"{ctx.rng.getrandbits(64):016x}"),
                             "from": f"3859{ctx.rng.choice('125789')}{ctx.digits(7)}", "keyword": keyword,
                             "clean": rest}, inbound=True)


def infobip_render(ctx: Ctx, items: list[Item]) -> Request:
    results: list[dict[str, Any]] = []
    for item in items:
        d = item.data
        if item.inbound:
            text = f"{d['keyword']} {d['clean']}".strip()
            row: dict[str, Any] = {"messageId": d["messageId"], "from": d["from"], "to": OUR_NUMBER, "text": text,
                                   "cleanText": d["clean"], "receivedAt": _time(item.at), "smsCount": 1,
                                   "price": {"pricePerMessage": 0, "currency": "EUR"}}
            if d["keyword"]:
                row["keyword"] = d["keyword"]
            results.append(row)
            continue
        status, error = STATUSES[d["kind"]]
        results.append({"bulkId": f"bulk-{d['messageId'][:8]}", "messageId": d["messageId"], "to": d["to"],
                        "sentAt": _time(d["sent"]), "doneAt": _time(item.at), "smsCount": d["parts"],
                        "mccMnc": "21910", "callbackData": f"order-{d['messageId'][-6:]}",
                        "price": {"pricePerMessage": round(0.0123 * d["parts"], 4), "currency": "EUR"},
                        "status": status, "error": error})
    body = {"results": results, "messageCount": len(results), "pendingMessageCount": 0}
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return "POST", "", (("Content-Type", "application/json"),), raw


def infobip_sign(request: Request, url: str, connection: Mapping[str, str], now: datetime) -> Request:
    """HTTP basic auth, as Infobip sends credentials written in the URL (nothing else to sign)."""
    user, password = connection.get("basic_user"), connection.get("basic_password")
    if not user or not password:
        return request
    method, query, headers, body = request
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return method, query, (*headers, ("Authorization", f"Basic {token}")), body


PROFILE = Profile(infobip_message, infobip_render, any_2xx, infobip_inbound, batch=100, sign=infobip_sign,
                  example={"basic_user": "infobip", "basic_password": "infobip-simulator-password"})
