"""Simulator profile: Spryng (see :mod:`smshook.simulate`)."""

from __future__ import annotations

from datetime import datetime

from smshook.providers.spryng import COUNTRIES, OPERATORS
from smshook.simulate.common import Ctx, Item, Profile, Request, form, local

# -- Spryng ----------------------------------------------------------------------------------------

SPRYNG_PLANS: list[tuple[int, tuple[str, ...]]] = [
    (60, ("Delivered",)), (18, ("Buffered", "Delivered")), (8, ("Not Delivered",)),
    (7, ("Buffered", "Not Delivered")), (5, ("Buffered",)),
]
SPRYNG_CAMPAIGNS = ["MARKETING", "ORDER", "OTP", "REMINDER", "INVOICE"]
# MCC -> (country calling code, national mobile prefix, digits after it)
SPRYNG_MOBILE = {"206": ("32", "4", 8), "208": ("33", "6", 8), "262": ("49", "17", 8), "214": ("34", "6", 8),
                 "204": ("31", "6", 8), "286": ("90", "5", 9), "234": ("44", "7", 9)}
SPRYNG_SHORTCODES = {"BEL": "3010", "FRA": "36111", "DEU": "4414", "ESP": "25522", "NLD": "4411", "TUR": "4646",
                     "GBR": "88440"}
SPRYNG_KEYWORDS = [("WIN", ["ON", "JA", "A"]), ("STOP", [""]), ("INFO", ["", "PRIJZEN"]), ("VOTE", ["A", "B", "C"]),
                   ("QUIZ", ["1", "2", "3"]), ("START", ["NIEUWS", ""]), ("JA", [""])]
SPRYNG_ZONE = "Europe/Amsterdam"


def spryng_message(ctx: Ctx) -> list[Item]:
    campaign = ctx.rng.choice(SPRYNG_CAMPAIGNS)
    reference = f"{campaign}_{ctx.next_number(campaign, lambda: ctx.rng.randint(1, 5000), step=4)}"
    statuses = ctx.pick(SPRYNG_PLANS)
    _, times = ctx.schedule(*((5, 900) for _ in statuses))
    return [Item(at, {"reference": reference, "status": s}) for at, s in zip(times, statuses, strict=True)]


def spryng_inbound(ctx: Ctx) -> Item:
    def draw() -> tuple[str, ...]:
        operator = ctx.rng.choice(sorted(OPERATORS))
        code, prefix, n = SPRYNG_MOBILE[operator[:3]]
        keyword, parms = ctx.rng.choice(SPRYNG_KEYWORDS)
        at = ctx.when()
        return (f"{code}{prefix}{ctx.digits(n)}", keyword, ctx.rng.choice(parms), operator,
                f"{local(at, SPRYNG_ZONE):%Y%m%d%H%M%S}", at.isoformat())

    msisdn, keyword, parm, operator, stamp, at = ctx.fresh(draw)
    country = COUNTRIES[operator[:3]]
    data = {"MSISDN": ("+" if ctx.rng.random() < 0.1 else "") + msisdn, "KEYWORD": keyword, "PARM": parm,
            "OPERATOR": operator, "TIMESTAMP": stamp, "SHORTCODE": SPRYNG_SHORTCODES[country], "COUNTRY": country}
    if ctx.rng.random() < 0.3:
        data["REFERENCE"] = f"MO{ctx.rng.getrandbits(40):010x}"
    return Item(datetime.fromisoformat(at), data, inbound=True)


def spryng_render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    pairs = list(d.items()) if item.inbound else [("REFERENCE", d["reference"]), ("STATUS", d["status"])]
    return "GET", form(pairs), (), b""


def spryng_check(request: Request, body: bytes) -> str | None:
    return None if body.strip() == b"TRUE" else f"body {body[:40]!r} is not TRUE (Spryng retries every minute)"


PROFILE = Profile(spryng_message, spryng_render, spryng_check, spryng_inbound)
