"""Simulator profile: Connection Software (see :mod:`smshook.simulate`)."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, quote_plus

from smshook.simulate.common import FORM, Ctx, Item, Profile, Request, uk_mobile

# -- csoft -----------------------------------------------------------------------------------------

CSOFT_PLANS: list[tuple[int, tuple[str, ...]]] = [
    (60, ("-4", "0")), (8, ("-3", "-4", "0")), (5, ("11", "0")), (4, ("0",)),
    (7, ("-4", "27")), (4, ("-4", "25")), (3, ("-4", "28")), (3, ("4",)), (2, ("3",)), (2, ("8",)),
]
CSOFT_DELAYS = {"-3": (0, 2), "-4": (1, 10), "11": (1, 10), "0": (3, 240), "27": (900, 3600)}
CSOFT_OUR_NUMBER = "447786200150"
CSOFT_TEXTS = ["Yes please", "STOP", "Can you call me after 5?", "Thanks, received", "No", "HELP", "Confirm"]


def csoft_message(ctx: Ctx) -> list[Item]:
    ident = ctx.fresh(lambda: f"{ctx.rng.getrandbits(32):08X}")
    handset = uk_mobile(ctx)
    codes = ctx.pick(CSOFT_PLANS)
    _, times = ctx.schedule(*(CSOFT_DELAYS.get(c, (2, 120)) for c in codes))
    return [Item(at, {"id": ident, "to": handset, "report": code}) for at, code in zip(times, codes, strict=True)]


def csoft_inbound(ctx: Ctx) -> Item:
    ident = ctx.fresh(lambda: f"{ctx.rng.getrandbits(32):08X}")
    return Item(ctx.when(), {"id": ident, "from": uk_mobile(ctx), "text": ctx.rng.choice(CSOFT_TEXTS)}, inbound=True)


def csoft_render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d, opts = item.data, ctx.options
    # csoft's own example percent-encodes even '-' and ':' in the timestamp.
    stamp = item.at.strftime("%Y-%m-%dT%H:%M:%SZ").replace("-", "%2D").replace(":", "%3A")
    creds = f"Username={quote(opts.username, safe='')}&PIN={quote(opts.pin, safe='')}"
    if item.inbound:
        body = (f"{creds}&SendTo={CSOFT_OUR_NUMBER}&Message={quote_plus(d['text'])}&ReplyTo={d['from']}"
                f"&Timestamp1={stamp}&MessageIdentifier={d['id']}")
        return "POST", "", (("Content-Type", f"{FORM}; charset=UTF-8"),), body.encode()
    body = f"{creds}&SendTo={d['to']}&Timestamp1={stamp}&MessageIdentifier={d['id']}&Report={d['report']}"
    return "POST", "", (("Content-Type", "text/html"),), body.encode()


def csoft_check(request: Request, body: bytes) -> str | None:
    sent = dict(parse_qsl(request[3].decode()))
    got = dict(parse_qsl(body.decode("utf-8", "replace")))
    if got.get("Report") != "0":
        return f"Report={got.get('Report')!r}, csoft resends anything but Report=0"
    if got.get("MessageIdentifier") != sent.get("MessageIdentifier"):
        return f"MessageIdentifier={got.get('MessageIdentifier')!r} does not echo {sent.get('MessageIdentifier')!r}"
    return None


PROFILE = Profile(csoft_message, csoft_render, csoft_check, csoft_inbound)
