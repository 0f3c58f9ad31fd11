"""``smshook simulate`` profiles for the gateways a sender runs (Kannel, Jasmin) and Amazon SNS.

* **kannel** — receipts as Kannel fetches smshook's recommended ``dlr-url`` (``GET``, ``User-Agent:
  Kannel/1.4.5``): type ``8`` (``ACK/``) then ``1`` with the SMSC's id in ``fid``, or ``8 4 1``, ``8`` then ``2``
  with an SMPP receipt text (``stat:EXPIRED``/``UNDELIV``) in ``reply``, or a lone ``16`` (``NACK/0x0000000b/…``);
  the handset as ``00…`` or ``+…``. Inbound: the ``get-url`` form (GSM text, or UCS-2 as raw UTF-16BE bytes)
  or the ``post-url`` form (text in the body, ``X-Kannel-*`` headers). Expected: 200 with an empty body.
* **jasmin** — DLRThrower form ``POST``\\ s: level 1 ``ESME_ROK`` then level 2 ``DELIVRD`` (or ``EXPIRED``,
  ``UNDELIV``, ``REJECTD``), or a lone level 1 ``ESME_RINVDSTADR``/``ESME_RTHROTTLED``; inbound
  deliverSmHttpThrower posts with ``coding`` as a raw byte (``%00``, ``%08`` for UCS-2) and ``binary`` in hex.
  Expected: exactly ``ACK/Jasmin``.
* **sns** — SNS ``Notification`` envelopes (``text/plain``), signed (SignatureVersion 2) with the key given
  by ``--sns-key``: SMS events (``TEXT_SUCCESSFUL`` then ``TEXT_DELIVERED``, or ``TEXT_CARRIER_UNREACHABLE``,
  ``TEXT_BLOCKED``...) and two-way inbound messages on ``--sns-topic``. smshook verifies them with the
  certificate of their ``SigningCertURL``, which only AWS serves: a server accepts them only when that URL's
  certificate is the one the key belongs to (tests replace the certificate source). Expected: any 2xx.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlencode

if TYPE_CHECKING:
    from smshook.simulate import Ctx, Item, Request, Simulated

KANNEL_HEADERS = (("User-Agent", "Kannel/1.4.5"),)
KANNEL_OUR = "12345"
KANNEL_TEXTS = ["Hello there world", "STOP", "Yes please", "Ring me at 5", "Tack!"]
KANNEL_UCS2 = ["Привет", "Спасибо, да", "Hej då ✓", "Ja, gärna 😊"]
KANNEL_PLANS: list[tuple[int, tuple[str, ...]]] = [
    (62, ("8", "1")), (10, ("8", "4", "1")), (8, ("8", "2:EXPIRED")), (6, ("8", "2:UNDELIV")), (4, ("16",)),
    (6, ("8",)), (4, ("8", "2:REJECTD")),
]
JASMIN_PLANS: list[tuple[int, tuple[str, ...]]] = [
    (65, ("ESME_ROK", "DELIVRD")), (8, ("ESME_ROK", "EXPIRED")), (7, ("ESME_ROK", "UNDELIV")),
    (5, ("ESME_ROK", "REJECTD")), (5, ("ESME_ROK",)), (6, ("ESME_RINVDSTADR",)), (4, ("ESME_RTHROTTLED",)),
]
JASMIN_FORM = (("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "text/plain"),
               ("Connection", "close"))
SNS_PLANS: list[tuple[int, tuple[str, ...]]] = [
    (70, ("TEXT_SUCCESSFUL", "TEXT_DELIVERED")), (10, ("TEXT_QUEUED", "TEXT_SUCCESSFUL", "TEXT_DELIVERED")),
    (6, ("TEXT_SUCCESSFUL", "TEXT_TTL_EXPIRED")), (6, ("TEXT_CARRIER_UNREACHABLE",)), (4, ("TEXT_BLOCKED",)),
    (4, ("TEXT_SUCCESSFUL",)),
]
SNS_FINAL = {"TEXT_DELIVERED", "TEXT_TTL_EXPIRED", "TEXT_BLOCKED", "TEXT_SUCCESSFUL"}


def _se_mobile(ctx: Ctx) -> str:
    return f"467{ctx.rng.choice('0236')}{ctx.digits(7)}"


def _smpp_text(message_id: str, stat: str, at: datetime, submitted: datetime) -> str:
    delivered = "001" if stat == "DELIVRD" else "000"
    err = "000" if stat in ("DELIVRD", "ACCEPTD", "ENROUTE") else "034"
    return (f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{submitted:%y%m%d%H%M} "
            f"done date:{at:%y%m%d%H%M} stat:{stat} err:{err} text:hello")


# -- Kannel ----------------------------------------------------------------------------------------


def kannel_message(ctx: Ctx) -> list[Item]:
    from smshook.simulate import Item

    ident = ctx.fresh(lambda: f"order-{ctx.rng.getrandbits(40):010x}")
    handset = _se_mobile(ctx)
    written = ctx.rng.choice([f"00{handset}", f"+{handset}", handset])
    steps = ctx.pick(KANNEL_PLANS)
    submitted, times = ctx.schedule(*((0, 2) if s == "8" else (2, 600) for s in steps))
    smsc_id = str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))
    return [Item(at, {"id": ident, "step": step, "handset": written, "smsc_id": smsc_id, "submitted": submitted})
            for at, step in zip(times, steps, strict=True)]


def kannel_inbound(ctx: Ctx) -> Item:
    from smshook.simulate import Item

    ucs2 = ctx.rng.random() < 0.3
    text = ctx.rng.choice(KANNEL_UCS2 if ucs2 else KANNEL_TEXTS)
    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    return Item(ctx.when(), {"id": ident, "from": f"00{_se_mobile(ctx)}", "text": text, "ucs2": ucs2,
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
        reply = _smpp_text(d["smsc_id"][:10], stat or ("DELIVRD" if kind == "1" else "ENROUTE"), item.at,
                           d["submitted"])
    query = urlencode([("id", d["id"]), ("type", kind), ("reply", reply), ("ts", ts), ("handset", d["handset"]),
                       ("sender", KANNEL_OUR), ("smsc", "SMPP1"), ("fid", d["smsc_id"] if final else ""),
                       ("meta", "?orig_msg?dlr_mask=31&"), ("binfo", "")])
    return "GET", query, KANNEL_HEADERS, b""


def kannel_check(request: Request, body: bytes) -> str | None:
    return None if body == b"" else f"body {body[:40]!r}: Kannel sends an answer's body to the handset as an SMS"


# -- Jasmin ----------------------------------------------------------------------------------------


def jasmin_message(ctx: Ctx) -> list[Item]:
    from smshook.simulate import Item

    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    steps = ctx.pick(JASMIN_PLANS)
    submitted, times = ctx.schedule(*((0, 2) if s.startswith("ESME") else (2, 600) for s in steps))
    smsc_id = str(ctx.rng.randrange(10**9, 10**10))
    return [Item(at, {"id": ident, "status": status, "smsc_id": smsc_id, "submitted": submitted})
            for at, status in zip(times, steps, strict=True)]


def jasmin_inbound(ctx: Ctx) -> Item:
    from smshook.simulate import Item

    ucs2 = ctx.rng.random() < 0.3
    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    return Item(ctx.when(), {"id": ident, "from": _se_mobile(ctx), "ucs2": ucs2,
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


# -- Amazon SNS ------------------------------------------------------------------------------------


def sns_message(ctx: Ctx) -> list[Item]:
    from smshook.simulate import Item

    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    to = f"1{ctx.rng.choice(['206', '425', '212'])}555{ctx.digits(4)}"
    steps = ctx.pick(SNS_PLANS)
    submitted, times = ctx.schedule(*((0, 3) for _ in steps))
    last = len(steps) - 1
    return [Item(at, {"messageId": ident, "eventType": step, "to": to, "submitted": submitted, "last": i == last})
            for i, (at, step) in enumerate(zip(times, steps, strict=True))]


def sns_inbound(ctx: Ctx) -> Item:
    from smshook.simulate import Item

    ident = str(uuid.UUID(int=ctx.fresh(lambda: ctx.rng.getrandbits(128)), version=4))
    body = ctx.rng.choice(["JOIN", "STOP", "Yes, see you at 5", "HELP"])
    return Item(ctx.when(), {"originationNumber": f"+1425555{ctx.digits(4)}", "destinationNumber": "+12125550101",
                             "messageKeyword": body.split()[0].rstrip(",").upper(), "messageBody": body,
                             "inboundMessageId": ident}, inbound=True)


def sns_render(ctx: Ctx, items: list[Item]) -> Request:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    (item,) = items
    d = item.data
    if item.inbound:
        message = dict(d)
    else:
        event = d["eventType"]
        message = {"eventType": event, "eventVersion": "1.0", "eventTimestamp": int(item.at.timestamp() * 1000),
                   "isFinal": event in SNS_FINAL and d["last"], "originationPhoneNumber": "+12065550152",
                   "destinationPhoneNumber": f"+{d['to']}", "mcc": "310", "mnc": "410", "messageId": d["messageId"],
                   "messageRequestTimestamp": int(d["submitted"].timestamp() * 1000), "messageEncoding": "GSM",
                   "messageType": "TRANSACTIONAL", "messageStatus": event.removeprefix("TEXT_"),
                   "totalMessageParts": 1, "totalMessagePrice": 0.00645, "totalCarrierFee": 0.0}
    options = ctx.options
    envelope: dict[str, Any] = {
        "Type": "Notification", "MessageId": str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4)),
        "TopicArn": options.sns_topic, "Message": json.dumps(message, separators=(",", ":")),
        "Timestamp": item.at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "SignatureVersion": "2",
        "SigningCertURL": options.sns_cert_url,
    }
    canonical = "".join(f"{k}\n{envelope[k]}\n" for k in ("Message", "MessageId", "Timestamp", "TopicArn", "Type"))
    key = options.sns_key
    if isinstance(key, rsa.RSAPrivateKey):
        envelope["Signature"] = base64.b64encode(key.sign(canonical.encode(), padding.PKCS1v15(),
                                                          hashes.SHA256())).decode()
    else:
        envelope["Signature"] = ""
    envelope["UnsubscribeURL"] = (f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
                                  f"{envelope['TopicArn']}:smshook-simulate")
    headers = (("Content-Type", "text/plain; charset=UTF-8"), ("x-amz-sns-message-type", "Notification"),
               ("x-amz-sns-message-id", envelope["MessageId"]), ("x-amz-sns-topic-arn", envelope["TopicArn"]),
               ("User-Agent", "Amazon Simple Notification Service Agent"))
    return "POST", "", headers, json.dumps(envelope).encode()


def profiles() -> dict[str, Simulated]:
    from smshook.simulate import Simulated, any_2xx

    return {
        "kannel": Simulated(kannel_message, kannel_render, kannel_check, kannel_inbound),
        "jasmin": Simulated(jasmin_message, jasmin_render, jasmin_check, jasmin_inbound),
        "sns": Simulated(sns_message, sns_render, any_2xx, sns_inbound),
    }
