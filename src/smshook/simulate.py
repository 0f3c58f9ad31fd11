"""``smshook simulate``: realistic provider callbacks, in each provider's exact wire format.

Tests a setup before a provider ever calls, and feeds benchmarks. A run is planned up front from
one seed (so ``--seed`` replays the same messages, statuses, order and retries; the times follow
the clock), then sent with ``httpx.AsyncClient`` at a fixed rate by a few concurrent workers, and
every answer is checked against what the provider itself expects.

What each provider's generator sends (one table, :data:`PROVIDERS`):

* **csoft** — one ``POST`` per receipt, labelled ``text/html`` like csoft's own example, with
  ``Username``/``PIN`` (``NULL`` unless given), the handset in ``SendTo`` (UK mobile), ``Timestamp1``
  in UTC with ``-`` and ``:`` percent-encoded, an 8-hex ``MessageIdentifier`` (``309B9A1A``) and a
  ``Report`` sequence such as ``-4`` then ``0``, ``-4`` then ``27``, ``-3 -4 0``, or a lone ``4``.
  Inbound: ``SendTo`` our number, ``ReplyTo`` the sender, ``Message``, ``Timestamp1``,
  ``MessageIdentifier``. Expected answer: ``MessageIdentifier=<same id>&Report=0``.
* **cdyne** — form ``POST`` with ``User-Agent: CDYNE SMSv2``: ``SMSSent=1`` (or ``0``) with a GUID
  ``MessageID`` and US-style UTC ``SentTime``; for short-code messages then ``DeliveryReceipt=1`` with
  ``Code`` ``003``/``004`` then ``000`` (or ``005``, ``008``, ``023``, ``999``) and the carrier's
  SMPP-style ``DeliveryReceiptMessage`` sent with raw spaces and colons. Inbound: ``SMSResponse=1``,
  a reply (``MatchedMessageID`` of a simulated message) or fresh (all-zero GUID). Expected: any 2xx.
* **webcom** — ``POST`` of an XML document (``--format json``: a JSON array) of 1 to 50 ``<state>``
  updates with integer ``id_sms``, Moscow ``time`` (empty while ``send``) and per-channel ``sms`` /
  ``viber`` attributes: ``send`` then ``deliver`` (or ``not_deliver``, ``expired``,
  ``partly_deliver``), Viber ``send``/``deliver``/``read``, Viber failing over to SMS. Expected: the
  answer lists every ``id_sms`` of the request.
* **spryng** — delivery reports as ``GET ?REFERENCE=MARKETING_1042&STATUS=Delivered`` (``Buffered``,
  ``Delivered``, ``Not Delivered``); inbound MO as ``GET`` with ``MSISDN``, ``KEYWORD``, ``PARM``,
  ``OPERATOR`` and ``COUNTRY`` from Spryng's operator table, Amsterdam ``TIMESTAMP``, ``SHORTCODE``.
  Expected: ``200`` with body ``TRUE``.
* **bulkgate** — ``POST`` of a JSON array of 1 to 100 items: ``status`` ``1``, ``2`` then ``1``, ``3``,
  ``2`` then ``3``, Viber ``1`` then ``13``, with ``smsID`` like ``3t2563af3ff285``, ``to``, ``price``,
  ``channel`` and ``date`` halves ``yymmddHHMM;yymmddHHMM`` in Prague time (delivery half empty while
  buffered); inbound rows ``status 10`` with ``from`` and ``message`` (or ``text``, as in BulkGate's
  sample). Expected: any 2xx.

``--count`` is the number of HTTP requests; ``--duplicates`` of them are verbatim re-sends of
earlier ones (placed after their original). ``--inbound-share`` is the share of generated events
that are inbound messages (webcom has none). Each unique callback's events are distinct by the
provider's own data, so the server must store exactly ``unique_events`` events.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import re
import ssl
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

import click

from smshook.errors import InvalidRequest
from smshook.providers import formats
from smshook.providers.spryng import COUNTRIES, OPERATORS

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")
# method, query string ("" for none), headers, body
Request = tuple[str, str, tuple[tuple[str, str], ...], bytes]
FORM = "application/x-www-form-urlencoded"
WINDOW = 600  # messages were submitted up to this many seconds before their first receipt


# -- planning state --------------------------------------------------------------------------------


SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:smshook-simulate"
SNS_CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-smshook-simulate.pem"


@dataclass(frozen=True, slots=True)
class Options:
    format: str = "xml"  # webcom: xml or json
    username: str = "NULL"  # csoft: what csoft sends when none is configured
    pin: str = "NULL"
    sns_topic: str = SNS_TOPIC  # sns: the TopicArn
    sns_cert_url: str = SNS_CERT_URL
    sns_key: Any = None  # sns: the RSA private key that signs (None: a throwaway one)


@dataclass(slots=True)
class Item:
    """One event a provider reports: its time (UTC) and what the renderer needs."""

    at: datetime
    data: dict[str, Any]
    inbound: bool = False


@dataclass(slots=True)
class Ctx:
    rng: random.Random
    now: datetime
    options: Options = field(default_factory=Options)
    taken: set[Any] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)  # outgoing messages, for replies

    def fresh(self, make: Callable[[], T]) -> T:
        """A value ``make`` draws that no earlier call returned (ids, inbound keys)."""
        while True:
            value = make()
            if value not in self.taken:
                self.taken.add(value)
                return value

    def digits(self, n: int) -> str:
        return f"{self.rng.randrange(10**n):0{n}d}"

    def pick(self, table: Sequence[tuple[int, T]]) -> T:
        return self.rng.choices([v for _, v in table], weights=[w for w, _ in table])[0]

    def schedule(self, *delays: tuple[int, int]) -> tuple[datetime, list[datetime]]:
        """Submission time and the time of each step, each ``(lo, hi)`` seconds after the one
        before; the last step is at most now."""
        offsets, total = [], 0
        for lo, hi in delays:
            total += self.rng.randint(lo, hi)
            offsets.append(total)
        start = self.now - timedelta(seconds=total + self.rng.randint(0, WINDOW))
        return start, [start + timedelta(seconds=o) for o in offsets]

    def when(self) -> datetime:
        """A time in the last few minutes (inbound messages)."""
        return self.now - timedelta(seconds=self.rng.randint(0, WINDOW))

    def next_number(self, name: str, start: Callable[[], int], step: int = 1) -> int:
        value = self.counters.get(name)
        value = start() if value is None else value + self.rng.randint(1, step)
        self.counters[name] = value
        return value


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(formats.zone(zone))


def form(pairs: Sequence[tuple[str, str]]) -> str:
    return urlencode(pairs)  # spaces as '+', like CDYNE's own example


def uk_mobile(ctx: Ctx) -> str:
    return f"447{ctx.rng.choice('45789')}{ctx.digits(8)}"


def us_number(ctx: Ctx) -> str:
    area = ctx.rng.choice(["757", "212", "415", "312", "646", "702", "512", "804"])
    return f"1{area}{ctx.rng.randint(2, 9)}{ctx.digits(6)}"


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


def any_2xx(request: Request, body: bytes) -> str | None:
    return None


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


# -- the provider table ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Simulated:
    message: Callable[[Ctx], list[Item]]  # one sent message's receipts, in the provider's order
    render: Callable[[Ctx, list[Item]], Request]
    check: Callable[[Request, bytes], str | None]  # for a 2xx answer: None, or what is wrong
    inbound: Callable[[Ctx], Item] | None = None
    batch: int = 1  # most events per callback


PROVIDERS: dict[str, Simulated] = {
    "csoft": Simulated(csoft_message, csoft_render, csoft_check, csoft_inbound),
    "cdyne": Simulated(cdyne_message, cdyne_render, any_2xx, cdyne_inbound),
    "webcom": Simulated(webcom_message, webcom_render, webcom_check, None, batch=50),
    "spryng": Simulated(spryng_message, spryng_render, spryng_check, spryng_inbound),
    "bulkgate": Simulated(bulkgate_message, bulkgate_render, any_2xx, bulkgate_inbound, batch=100),
}


def _gateway_profiles() -> dict[str, Simulated]:
    from smshook.simulate_gateways import profiles

    return profiles()


PROVIDERS.update(_gateway_profiles())  # kannel, jasmin, sns: smshook.simulate_gateways


# -- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Callback:
    request: Request
    events: int
    inbound: int = 0
    duplicate: bool = False


@dataclass(slots=True)
class Plan:
    provider: str
    seed: int
    callbacks: list[Callback]

    @property
    def duplicates(self) -> int:
        return sum(c.duplicate for c in self.callbacks)

    @property
    def unique_callbacks(self) -> int:
        return len(self.callbacks) - self.duplicates

    @property
    def unique_events(self) -> int:
        return sum(c.events for c in self.callbacks if not c.duplicate)

    @property
    def inbound_events(self) -> int:
        return sum(c.inbound for c in self.callbacks if not c.duplicate)


def plan(
    provider: str,
    *,
    count: int = 100,
    duplicates: float = 0.1,
    out_of_order: bool = False,
    inbound_share: float = 0.2,
    seed: int | None = None,
    options: Options | None = None,
    now: datetime | None = None,
) -> Plan:
    """Every callback of a run, in sending order: ``count`` requests of which ``duplicates`` (a
    share) re-send an earlier one verbatim."""
    sim = PROVIDERS[provider]
    seed = random.SystemRandom().randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    ctx = Ctx(rng, (now or datetime.now(UTC)).replace(microsecond=0), options or Options())
    n_dup = min(round(count * duplicates), count - 1)
    n_orig = count - n_dup
    sizes = [rng.randint(1, sim.batch) for _ in range(n_orig)]
    total = sum(sizes)
    n_in = round(total * inbound_share) if sim.inbound else 0

    messages: list[list[Item]] = []
    receipts = 0
    while receipts < total - n_in:
        msg = sim.message(ctx)[: total - n_in - receipts]  # the last message may still be in flight
        messages.append(msg)
        receipts += len(msg)
    inbound = [sim.inbound(ctx) for _ in range(n_in)] if sim.inbound else []

    # Arrival order: each event shortly after it happened, messages interleaved; out of order, a
    # message's events swap their arrival slots (``delivered`` may come before ``sent``).
    arrivals: list[tuple[float, Item]] = []
    for msg in messages:
        slots = sorted(item.at.timestamp() + rng.uniform(0.0, 5.0) for item in msg)
        if out_of_order:
            rng.shuffle(slots)
        arrivals += zip(slots, msg, strict=True)
    arrivals += [(item.at.timestamp() + rng.uniform(0.0, 5.0), item) for item in inbound]
    arrivals.sort(key=lambda pair: pair[0])
    items = [item for _, item in arrivals]

    originals: list[Callback] = []
    start = 0
    for size in sizes:
        chunk = items[start:start + size]
        start += size
        originals.append(Callback(sim.render(ctx, chunk), len(chunk), sum(i.inbound for i in chunk)))

    # Retries: verbatim re-sends of random earlier callbacks, each placed after its original.
    placed = [(float(i), cb) for i, cb in enumerate(originals)]
    for _ in range(n_dup):
        j = rng.randrange(n_orig)
        placed.append((rng.uniform(j + 0.5, n_orig), Callback(originals[j].request, originals[j].events,
                                                              originals[j].inbound, duplicate=True)))
    placed.sort(key=lambda pair: pair[0])
    return Plan(provider, seed, [cb for _, cb in placed])


# -- sending ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    sent: int = 0
    ok: int = 0  # the provider's expected success answer
    answered_2xx: int = 0
    non_2xx: Counter[int] = field(default_factory=Counter)
    unexpected: int = 0  # 2xx but not the answer the provider expects
    errors: int = 0  # no answer at all (connection refused, timeout...)
    problems: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def problem(self, index: int, message: str) -> None:
        if len(self.problems) < 10:
            self.problems.append(f"callback {index + 1}: {message}")


def target(url: str, query: str) -> str:
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


async def deliver(
    url: str,
    the_plan: Plan,
    *,
    rate: float = 50.0,
    concurrency: int = 8,
    answer_timeout: float = 10.0,
    progress: Callable[[], None] | None = None,
) -> Tally:
    """Send every callback of the plan (``rate`` per second, 0 = as fast as possible) and check
    each answer against what the provider expects."""
    import httpx

    check = PROVIDERS[the_plan.provider].check
    tally = Tally()
    queue = iter(enumerate(the_plan.callbacks))
    loop = asyncio.get_running_loop()

    async def one(client: httpx.AsyncClient, index: int, callback: Callback) -> None:
        method, query, headers, body = callback.request
        tally.sent += 1
        try:
            response = await client.request(method, target(url, query), headers=list(headers), content=body or None)
        except httpx.HTTPError as exc:
            tally.errors += 1
            tally.problem(index, f"{type(exc).__name__}: {exc}")
            return
        answer = response.content
        if not 200 <= response.status_code < 300:
            tally.non_2xx[response.status_code] += 1
            tally.problem(index, f"HTTP {response.status_code}: {answer[:200].decode('utf-8', 'replace').strip()}")
            return
        tally.answered_2xx += 1
        wrong = check(callback.request, answer)
        if wrong:
            tally.unexpected += 1
            tally.problem(index, wrong)
        else:
            tally.ok += 1

    # One client (one keep-alive connection) per worker: a single pool shared by many concurrent
    # requests costs httpcore a scan of every connection per request, which made the simulator, not
    # the server, the bottleneck. One TLS context for all of them: building one per client is slow.
    tls = ssl.create_default_context()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    start = loop.time()

    async def worker() -> None:
        async with httpx.AsyncClient(timeout=answer_timeout, limits=limits, trust_env=False, verify=tls) as client:
            for index, callback in queue:  # one shared iterator: each callback goes to one worker
                if rate > 0:
                    delay = start + index / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await one(client, index, callback)
                if progress is not None:
                    progress()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    tally.elapsed = time.perf_counter() - began
    return tally


def summary(url: str, the_plan: Plan, tally: Tally) -> dict[str, Any]:
    return {
        "provider": the_plan.provider,
        "url": url,
        "seed": the_plan.seed,
        "ok": tally.ok == len(the_plan.callbacks),
        "sent": tally.sent,
        "expected_answers": tally.ok,
        "answered_2xx": tally.answered_2xx,
        "non_2xx": {str(status): n for status, n in sorted(tally.non_2xx.items())},
        "unexpected_answers": tally.unexpected,
        "errors": tally.errors,
        "duplicates": the_plan.duplicates,
        "unique_callbacks": the_plan.unique_callbacks,
        "unique_events": the_plan.unique_events,
        "inbound_events": the_plan.inbound_events,
        "elapsed_s": round(tally.elapsed, 3),
        "callbacks_per_s": round(tally.sent / tally.elapsed, 1) if tally.elapsed > 0 else None,
        "problems": tally.problems,
    }


def render_summary(data: dict[str, Any]) -> str:
    non_2xx = ", ".join(f"{status}: {n}" for status, n in data["non_2xx"].items()) or "none"
    lines = [
        f"{data['provider']} -> {data['url']} (seed {data['seed']})",
        f"  sent           {data['sent']} ({data['duplicates']} duplicates; {data['unique_callbacks']} unique "
        f"callbacks carrying {data['unique_events']} events, {data['inbound_events']} inbound)",
        f"  answered 2xx   {data['answered_2xx']}",
        f"  non-2xx        {non_2xx}",
        f"  wrong answers  {data['unexpected_answers']}",
        f"  errors         {data['errors']}",
        f"  elapsed        {data['elapsed_s']:.2f} s ({data['callbacks_per_s'] or 0} callbacks/s)",
    ]
    lines += [f"  ! {p}" for p in data["problems"]]
    verdict = "every callback got the provider's expected answer" if data["ok"] else \
        f"{data['sent'] - data['expected_answers']} callbacks did not get the provider's expected answer"
    lines.append(("OK: " if data["ok"] else "FAILED: ") + verdict)
    return "\n".join(lines)


def _sns_key(provider: str, path: str | None) -> Any:
    """The key ``simulate sns`` signs with: --sns-key, else a throwaway one (a real server then refuses)."""
    if provider != "sns":
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if path is None:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    try:
        key = serialization.load_pem_private_key(open(path, "rb").read(), password=None)  # noqa: SIM115
    except (ValueError, TypeError) as exc:
        _fail(f"--sns-key {path}: not an unencrypted PEM private key ({exc})")
    if not isinstance(key, rsa.RSAPrivateKey):
        _fail(f"--sns-key {path}: not an RSA key")
    return key


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the command -----------------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


@click.command()
@click.argument("provider", type=click.Choice(sorted(PROVIDERS)))
@click.option("--url", required=True, help="Full hook URL, e.g. http://127.0.0.1:8080/hooks/bulkgate.")
@click.option("--count", type=click.IntRange(min=1), default=100, show_default=True,
              help="Callbacks (HTTP requests) to send, retries included.")
@click.option("--rate", type=click.FloatRange(min=0), default=50.0, show_default=True,
              help="Callbacks per second (0: as fast as possible).")
@click.option("--duplicates", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of callbacks that re-send an earlier one verbatim, as a provider's retry.")
@click.option("--out-of-order", is_flag=True, help="Shuffle each message's receipts (delivered may come before sent).")
@click.option("--inbound-share", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Share of events that are inbound messages (providers with inbound).")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=8, show_default=True,
              help="Requests in flight at once.")
@click.option("--seed", type=int, help="Seed for a reproducible run (printed in the summary).")
@click.option("--format", "fmt", type=click.Choice(["xml", "json"]), default="xml", show_default=True,
              help="webcom: XML or JSON documents (the account's mode).")
@click.option("--username", default="NULL", show_default=True, help="csoft: the Username to send.")
@click.option("--pin", default="NULL", show_default=True, help="csoft: the PIN to send.")
@click.option("--sns-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="sns: PEM private key to sign with (its certificate must be what --sns-cert-url serves).")
@click.option("--sns-topic", default=SNS_TOPIC, show_default=True, help="sns: the TopicArn to send.")
@click.option("--sns-cert-url", default=SNS_CERT_URL, help="sns: the SigningCertURL to send.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Seconds to wait for each answer.")
@click.option("--allow-remote", is_flag=True, help="Allow a URL whose host is not loopback.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def simulate(
    provider: str,
    url: str,
    count: int,
    rate: float,
    duplicates: float,
    out_of_order: bool,
    inbound_share: float,
    concurrency: int,
    seed: int | None,
    fmt: str,
    username: str,
    pin: str,
    sns_key: str | None,
    sns_topic: str,
    sns_cert_url: str,
    timeout: float,
    allow_remote: bool,
    as_json: bool,
) -> None:
    """Send realistic PROVIDER callbacks to URL, in the provider's exact wire format.

    Exit status 0 when every callback got the provider's expected success answer, 1 otherwise.
    """
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        _fail(f"--url {url!r} is not an http(s) URL")
    if not allow_remote and not is_loopback(url):
        _fail(f"--url {url!r} is not on a loopback address: add --allow-remote if you really mean to send to it")
    the_plan = plan(provider, count=count, duplicates=duplicates, out_of_order=out_of_order,
                    inbound_share=inbound_share, seed=seed,
                    options=Options(fmt, username, pin, sns_topic, sns_cert_url, _sns_key(provider, sns_key)))
    if sys.stderr.isatty():
        with click.progressbar(length=count, label=f"{provider} callbacks", file=sys.stderr) as bar:
            tally = asyncio.run(deliver(url, the_plan, rate=rate, concurrency=concurrency, answer_timeout=timeout,
                                        progress=lambda: bar.update(1)))
    else:
        tally = asyncio.run(deliver(url, the_plan, rate=rate, concurrency=concurrency, answer_timeout=timeout))
    data = summary(url, the_plan, tally)
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else render_summary(data))
    raise SystemExit(0 if data["ok"] else 1)
