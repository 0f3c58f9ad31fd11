"""Simulator profile: Webcom (see :mod:`smshook.simulate`)."""

from __future__ import annotations

import json
import re

from smshook.errors import InvalidRequest
from smshook.providers import formats
from smshook.simulate.common import Ctx, Item, Profile, Request, local

# -- Webcom ----------------------------------------------------------------------------------------

# (overall state, per-channel attributes) in the order Webcom reports them.
WEBCOM_PLANS: list[tuple[int, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]]] = [
    (55, (("send", (("sms", "send"),)), ("deliver", (("sms", "deliver"),)))),
    (7, (("send", (("sms", "send"),)), ("not_deliver", (("sms", "not_deliver"),)))),
    (4, (("send", (("sms", "send"),)), ("expired", (("sms", "expired"),)))),
    (3, (("send", (("sms", "send"),)), ("partly_deliver", (("sms", "partly_deliver"),)))),
    (6, (("deliver", (("sms", "deliver"),)),)),
    (15, (("send", (("viber", "send"),)), ("deliver", (("viber", "deliver"),)), ("read", (("viber", "read"),)))),
    (10, (("send", (("viber", "send"),)), ("send", (("sms", "send"), ("viber", "not_deliver"))),
          ("deliver", (("sms", "deliver"), ("viber", "not_deliver"))))),
]
WEBCOM_DELAYS = {"send": (0, 5), "deliver": (2, 180), "read": (10, 600), "expired": (900, 3600)}
WEBCOM_ZONE = "Europe/Moscow"


def webcom_message(ctx: Ctx) -> list[Item]:
    ident = str(ctx.next_number("webcom", lambda: ctx.rng.randrange(10**8, 9 * 10**8), step=3))
    steps = ctx.pick(WEBCOM_PLANS)
    _, times = ctx.schedule(*(WEBCOM_DELAYS.get(state, (5, 300)) for state, _ in steps))
    return [Item(at, {"id": ident, "state": state, "channels": dict(channels)})
            for at, (state, channels) in zip(times, steps, strict=True)]


def webcom_render(ctx: Ctx, items: list[Item]) -> Request:
    states = []
    for item in items:
        d = item.data
        when = "" if d["state"] == "send" else f"{local(item.at, WEBCOM_ZONE):%Y-%m-%d %H:%M:%S}"
        states.append({"id_sms": d["id"], "time": when, **d["channels"], "state": d["state"]})
    if ctx.options.format == "json":
        body = json.dumps([{**s, "id_sms": s["id_sms"] if i % 2 else int(s["id_sms"])} for i, s in enumerate(states)])
        return "POST", "", (("Content-Type", "application/json"),), body.encode()
    lines = ['<?xml version="1.0" encoding="utf-8" ?>', "<response>"]
    for s in states:
        attrs = " ".join(f'{k}="{v}"' for k, v in s.items() if k != "state")
        lines.append(f"  <state {attrs}>{s['state']}</state>")
    lines.append("</response>")
    return "POST", "", (("Content-Type", "text/xml; charset=utf-8"),), "\n".join(lines).encode()


def webcom_check(request: Request, body: bytes) -> str | None:
    sent = request[3]
    if sent.startswith(b"<"):
        want = set(re.findall(r'id_sms="(\d+)"', sent.decode()))
        try:
            got = {(e.text or "").strip() for e in formats.parse_xml(body) if e.tag == "id_sms"}
        except InvalidRequest as exc:
            return f"answer is not the XML id list: {exc}"
    else:
        want = {str(s["id_sms"]) for s in json.loads(sent)}
        try:
            got = {str(s["id_sms"]) for s in json.loads(body)}
        except (ValueError, TypeError, KeyError) as exc:
            return f"answer is not the JSON id list: {exc}"
    missing = want - got
    return f"{len(missing)} id_sms not listed (Webcom resends them): {sorted(missing)[:5]}" if missing else None


PROFILE = Profile(webcom_message, webcom_render, webcom_check, None, batch=50)
