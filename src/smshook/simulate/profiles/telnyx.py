"""Simulator profile: Telnyx (see :mod:`smshook.simulate`).

One webhook per event, as Telnyx sends them: ``message.sent`` then ``message.finalized`` for each
outbound SMS (``delivered``, or ``delivery_failed``/``sending_failed`` with a Telnyx error code,
``expired``, ``delivery_unconfirmed``), and ``message.received`` for inbound messages, to US numbers.

Signing: Telnyx signs with its private key, which nobody else has. The simulator signs with its own
published test key pair, so a connection to be tested with signed callbacks sets
``public_key = "{SIMULATOR_PUBLIC_KEY}"`` (never in production: anyone can sign with it).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from smshook.simulate.common import Ctx, Item, Profile, Request, any_2xx, us_number

# The simulator's own Ed25519 key pair (a fixed, public seed: for tests only).
SIMULATOR_SEED = bytes(range(32))
_KEY = Ed25519PrivateKey.from_private_bytes(SIMULATOR_SEED)
SIMULATOR_PUBLIC_KEY = base64.b64encode(_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
__doc__ = (__doc__ or "").replace("{SIMULATOR_PUBLIC_KEY}", SIMULATOR_PUBLIC_KEY)

OUR_NUMBER = "+18445550001"
PLANS: list[tuple[int, tuple[tuple[str, str, str | None], ...]]] = [  # (event type, status, error code)
    (70, (("message.sent", "sent", None), ("message.finalized", "delivered", None))),
    (6, (("message.sent", "sent", None), ("message.finalized", "delivery_failed", "40008"))),
    (4, (("message.sent", "sent", None), ("message.finalized", "delivery_failed", "40006"))),
    (3, (("message.finalized", "sending_failed", "40300"),)),
    (3, (("message.finalized", "sending_failed", "40012"),)),
    (4, (("message.sent", "sent", None), ("message.finalized", "expired", "40005"))),
    (5, (("message.sent", "sent", None), ("message.finalized", "delivery_unconfirmed", None))),
]
ERROR_TITLES = {"40008": "Undeliverable", "40006": "Recipient server unavailable",
                "40300": "Blocked due to STOP message", "40012": "Invalid destination number",
                "40005": "Message expired"}
TEXTS = ["Yes", "STOP", "What time is my appointment?", "Thanks!", "HELP", "Running 10 min late", "👍"]


def _uuid(ctx: Ctx) -> str:
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def telnyx_message(ctx: Ctx) -> list[Item]:
    message_id = ctx.fresh(lambda: _uuid(ctx))
    to = f"+{us_number(ctx)}"
    steps = ctx.pick(PLANS)
    submitted, times = ctx.schedule(*((1, 5) if kind == "message.sent" else (2, 120) for kind, _, _ in steps))
    return [Item(at, {"id": message_id, "event_id": _uuid(ctx), "event_type": kind, "status": status, "code": code,
                      "to": to, "submitted": submitted})
            for at, (kind, status, code) in zip(times, steps, strict=True)]


def telnyx_inbound(ctx: Ctx) -> Item:
    return Item(ctx.when(), {"id": ctx.fresh(lambda: _uuid(ctx)), "event_id": _uuid(ctx),
                             "from": f"+{us_number(ctx)}", "text": ctx.rng.choice(TEXTS)}, inbound=True)


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def telnyx_render(ctx: Ctx, items: list[Item]) -> Request:
    (item,) = items
    d = item.data
    if item.inbound:
        payload = {"record_type": "message", "direction": "inbound", "id": d["id"], "type": "SMS",
                   "from": {"phone_number": d["from"], "carrier": "T-Mobile USA", "line_type": "Wireless"},
                   "to": [{"phone_number": OUR_NUMBER, "status": "delivered", "carrier": "Telnyx",
                           "line_type": "VoIP"}],
                   "cc": [], "text": d["text"], "media": [], "encoding": "GSM-7", "parts": 1, "tags": [], "cost": None,
                   "received_at": _time(item.at), "errors": []}
        event_type = "message.received"
    else:
        errors = [{"code": d["code"], "title": ERROR_TITLES[d["code"]]}] if d["code"] else []
        payload = {"record_type": "message", "direction": "outbound", "id": d["id"], "type": "SMS",
                   "from": {"phone_number": OUR_NUMBER, "carrier": "Telnyx", "line_type": "VoIP"},
                   "to": [{"phone_number": d["to"], "status": d["status"], "carrier": "T-MOBILE USA, INC.",
                           "line_type": "Wireless"}],
                   "cc": [], "text": "Your appointment is confirmed.", "encoding": "GSM-7", "parts": 1,
                   "cost": {"amount": "0.0040", "currency": "USD"}, "received_at": _time(d["submitted"]),
                   "sent_at": _time(item.at) if d["event_type"] == "message.sent" else None,
                   "completed_at": _time(item.at) if d["event_type"] == "message.finalized" else None,
                   "errors": errors}
        event_type = d["event_type"]
    body = {"data": {"event_type": event_type, "id": d["event_id"], "occurred_at": _time(item.at),
                     "record_type": "event", "payload": payload},
            "meta": {"attempt": 1, "delivered_to": "https://example.com/hooks/telnyx"}}
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return "POST", "", (("Content-Type", "application/json"), ("User-Agent", "telnyx-webhooks")), raw


def telnyx_sign(request: Request, url: str, connection: Mapping[str, str], now: datetime) -> Request:
    """Telnyx's headers, signed with the simulator's key pair (the connection must trust its public key)."""
    if connection.get("public_key", "").strip() != SIMULATOR_PUBLIC_KEY:
        raise ValueError("Telnyx signs with its own private key: to test signed callbacks, set the connection's "
                         f"public_key to the simulator's, {SIMULATOR_PUBLIC_KEY} (tests only)")
    method, query, headers, body = request
    stamp = str(int(now.timestamp()))
    signature = base64.b64encode(_KEY.sign(stamp.encode() + b"|" + body)).decode()
    return method, query, (*headers, ("telnyx-timestamp", stamp), ("telnyx-signature-ed25519", signature)), body


PROFILE = Profile(telnyx_message, telnyx_render, any_2xx, telnyx_inbound, sign=telnyx_sign,
                  example={"public_key": SIMULATOR_PUBLIC_KEY})
