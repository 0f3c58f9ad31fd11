"""Simulator profile: Jasmin (see :mod:`smshook.simulate`). DLRThrower form ``POST``\\ s: level 1 ``ESME_ROK``
then level 2 ``DELIVRD`` (or ``EXPIRED``, ``UNDELIV``, ``REJECTD``), or a lone level 1 ``ESME_RINVDSTADR`` /
``ESME_RTHROTTLED``; inbound deliverSmHttpThrower posts with ``coding`` as a raw byte (``%00``, ``%08`` for UCS-2)
and ``binary`` in hex. Expected answer: exactly ``ACK/Jasmin``."""

from __future__ import annotations

import uuid
from urllib.parse import quote, quote_plus, urlencode

from smshook.simulate.common import Ctx, Item, Profile, Request
from smshook.simulate.profiles.kannel import KANNEL_OUR, KANNEL_TEXTS, KANNEL_UCS2, se_mobile

JASMIN_PLANS: list[tuple[int, tuple[str, ...]]] = [
    (65, ("ESME_ROK", "DELIVRD")), (8, ("ESME_ROK", "EXPIRED")), (7, ("ESME_ROK", "UNDELIV")),
    (5, ("ESME_ROK", "REJECTD")), (5, ("ESME_ROK",)), (6, ("ESME_RINVDSTADR",)), (4, ("ESME_RTHROTTLED",)),
]
JASMIN_FORM = (("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "text/plain"),
               ("Connection", "close"))


# -- Jasmin ----------------------------------------------------------------------------------------


def jasmin_message(ctx: Ctx) -> list[Item]:
    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    steps = ctx.pick(JASMIN_PLANS)
    submitted, times = ctx.schedule(*((0, 2) if s.startswith("ESME") else (2, 600) for s in steps))
    smsc_id = str(ctx.rng.randrange(10**9, 10**10))
    return [Item(at, {"id": ident, "status": status, "smsc_id": smsc_id, "submitted": submitted})
            for at, status in zip(times, steps, strict=True)]


def jasmin_inbound(ctx: Ctx) -> Item:
    ucs2 = ctx.rng.random() < 0.3
    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    return Item(ctx.when(), {"id": ident, "from": se_mobile(ctx), "ucs2": ucs2,
                             "text": ctx.rng.choice(KANNEL_UCS2 if ucs2 else KANNEL_TEXTS)}, inbound=True)


def jasmin_render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    if item.inbound:
        raw = d["text"].encode("utf-16-be" if d["ucs2"] else "latin-1", "replace")
        body = (f"id={d['id']}&from={d['from']}&to={KANNEL_OUR}&origin-connector=smsc1&content={quote_plus(raw)}"
                f"&binary={raw.hex()}&priority=0&coding={quote(bytes([8 if d['ucs2'] else 0]))}")
        return "POST", "", (*JASMIN_FORM, ("User-Agent", "Jasmin gateway/1.0 deliverSmHttpThrower")), body.encode()
    status = d["status"]
    pairs = [("id", d["id"]), ("level", "1" if status.startswith("ESME") else "2"), ("message_status", status)]
    if status.startswith("ESME"):
        pairs.append(("connector", "smsc1"))
    else:
        done = item.at
        pairs += [("connector", d["smsc_id"]), ("id_smsc", d["smsc_id"]), ("sub", "001"),
                  ("dlvrd", "001" if status == "DELIVRD" else "000"), ("subdate", f"{d['submitted']:%y%m%d%H%M}"),
                  ("donedate", f"{done:%y%m%d%H%M}"), ("err", "000" if status == "DELIVRD" else "034"),
                  ("text", "hello")]
    return "POST", "", (*JASMIN_FORM, ("User-Agent", "Jasmin gateway/1.0 DLRThrower")), urlencode(pairs).encode()


def jasmin_check(request: Request, body: bytes) -> str | None:
    return None if body.strip() == b"ACK/Jasmin" else f"body {body[:40]!r} is not ACK/Jasmin (Jasmin retries)"



PROFILE = Profile(jasmin_message, jasmin_render, jasmin_check, jasmin_inbound)
