"""Simulator profile: Kannel (see :mod:`smshook.simulate`). Receipts as Kannel fetches smshook's recommended
``dlr-url`` (``GET``, ``User-Agent: Kannel/1.4.5``): type ``8`` (``ACK/``) then ``1`` with the SMSC's id in ``fid``,
or ``8 4 1``, ``8`` then ``2`` with an SMPP receipt text (``stat:EXPIRED``/``UNDELIV``/``REJECTD``) in ``reply``, or
a lone ``16`` (``NACK/0x0000000b/…``); the handset as ``00…``, ``+…`` or bare. Inbound: the ``get-url`` form (GSM
text, or UCS-2 as raw UTF-16BE bytes) or the ``post-url`` form (text in the body, ``X-Kannel-*`` headers).
Expected answer: 200 with an empty body."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import quote_plus, urlencode

from smshook.simulate.common import Ctx, Item, Profile, Request

KANNEL_HEADERS = (("User-Agent", "Kannel/1.4.5"),)
KANNEL_OUR = "12345"
KANNEL_TEXTS = ["Hello there world", "STOP", "Yes please", "Ring me at 5", "Tack!"]
KANNEL_UCS2 = ["Привет", "Спасибо, да", "Hej då ✓", "Ja, gärna 😊"]
KANNEL_PLANS: list[tuple[int, tuple[str, ...]]] = [
    (62, ("8", "1")), (10, ("8", "4", "1")), (8, ("8", "2:EXPIRED")), (6, ("8", "2:UNDELIV")), (4, ("16",)),
    (6, ("8",)), (4, ("8", "2:REJECTD")),
]


def se_mobile(ctx: Ctx) -> str:
    return f"467{ctx.rng.choice('0236')}{ctx.digits(7)}"


def smpp_text(message_id: str, stat: str, at: datetime, submitted: datetime) -> str:
    """An SMSC's delivery receipt text (SMPP 3.4 appendix B)."""
    delivered = "001" if stat == "DELIVRD" else "000"
    err = "000" if stat in ("DELIVRD", "ACCEPTD", "ENROUTE") else "034"
    return (f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{submitted:%y%m%d%H%M} "
            f"done date:{at:%y%m%d%H%M} stat:{stat} err:{err} text:hello")


# -- Kannel ----------------------------------------------------------------------------------------


def kannel_message(ctx: Ctx) -> list[Item]:
    ident = ctx.fresh(lambda: f"order-{ctx.rng.getrandbits(40):010x}")
    handset = se_mobile(ctx)
    written = ctx.rng.choice([f"00{handset}", f"+{handset}", handset])
    steps = ctx.pick(KANNEL_PLANS)
    submitted, times = ctx.schedule(*((0, 2) if s == "8" else (2, 600) for s in steps))
    smsc_id = str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))
    return [Item(at, {"id": ident, "step": step, "handset": written, "smsc_id": smsc_id, "submitted": submitted})
            for at, step in zip(times, steps, strict=True)]


def kannel_inbound(ctx: Ctx) -> Item:
    ucs2 = ctx.rng.random() < 0.3
    text = ctx.rng.choice(KANNEL_UCS2 if ucs2 else KANNEL_TEXTS)
    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    return Item(ctx.when(), {"id": ident, "from": f"00{se_mobile(ctx)}", "text": text, "ucs2": ucs2,
                             "post": ctx.rng.random() < 0.4}, inbound=True)


def kannel_render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d, ts = item.data, str(int(item.at.timestamp()))
    if item.inbound:
        coding, charset = ("2", "UTF-16BE") if d["ucs2"] else ("0", "UTF-8")
        raw = d["text"].encode("utf-16-be" if d["ucs2"] else "utf-8")
        if d["post"]:
            headers = (*KANNEL_HEADERS, ("Content-Type", f'text/plain; charset="{charset}"'),
                       ("X-Kannel-From", "+" + d["from"][2:]), ("X-Kannel-To", KANNEL_OUR),
                       ("X-Kannel-Time", f"{item.at:%Y-%m-%d %H:%M:%S}"), ("X-Kannel-SMSC", "SMPP1"),
                       ("X-Kannel-Coding", coding))
            return "POST", f"ts={ts}&id={d['id']}&coding={coding}&charset={charset}", headers, raw
        query = (f"from={d['from']}&to={KANNEL_OUR}&text={quote_plus(raw)}&ts={ts}&id={d['id']}&smsc=SMPP1"
                 f"&coding={coding}&charset={charset}&udh=&kw={quote_plus(raw.split(b' ')[0])}")
        return "GET", query, KANNEL_HEADERS, b""
    kind, _, stat = d["step"].partition(":")
    final = kind in ("1", "2")
    if kind == "8":
        reply = "ACK/"
    elif kind == "16":
        reply = "NACK/0x0000000b/Invalid Destination Address"
    else:
        reply = smpp_text(d["smsc_id"][:10], stat or ("DELIVRD" if kind == "1" else "ENROUTE"), item.at,
                           d["submitted"])
    query = urlencode([("id", d["id"]), ("type", kind), ("reply", reply), ("ts", ts), ("handset", d["handset"]),
                       ("sender", KANNEL_OUR), ("smsc", "SMPP1"), ("fid", d["smsc_id"] if final else ""),
                       ("meta", "?orig_msg?dlr_mask=31&"), ("binfo", "")])
    return "GET", query, KANNEL_HEADERS, b""


def kannel_check(request: Request, body: bytes) -> str | None:
    return None if body == b"" else f"body {body[:40]!r}: Kannel sends an answer's body to the handset as an SMS"



PROFILE = Profile(kannel_message, kannel_render, kannel_check, kannel_inbound)
