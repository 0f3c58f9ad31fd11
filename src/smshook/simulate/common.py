"""What every simulator profile shares: the planning state (:class:`Ctx`, :class:`Item`), the
:class:`Profile` a provider's module exports, and small generators (numbers, forms, times).

A profile module is ``smshook/simulate/profiles/<slug>.py`` (plugins: the module named by
:attr:`Provider.simulator <smshook.providers.base.Provider.simulator>`) exporting ``PROFILE``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from smshook.providers import formats

T = TypeVar("T")
# method, query string ("" for none), headers, body
Request = tuple[str, str, tuple[tuple[str, str], ...], bytes]
FORM = "application/x-www-form-urlencoded"
WINDOW = 600  # messages were submitted up to this many seconds before their first receipt


# -- planning state --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    format: str = "xml"  # webcom: xml or json
    username: str = "NULL"  # csoft: what csoft sends when none is configured
    pin: str = "NULL"
    # The connection's options (secrets included) a profile signs with, and the URL the provider
    # signs (the connection's public_url; None: the URL the callbacks are sent to).
    connection: Mapping[str, str] = field(default_factory=dict)
    public_url: str | None = None


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


def any_2xx(request: Request, body: bytes) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Profile:
    """A provider's simulator: how it reports messages, renders callbacks, signs them and checks our answer."""

    message: Callable[[Ctx], list[Item]]  # one sent message's receipts, in the provider's order
    render: Callable[[Ctx, list[Item]], Request]
    check: Callable[[Request, bytes], str | None]  # for a 2xx answer: None, or what is wrong
    inbound: Callable[[Ctx], Item] | None = None
    batch: int = 1  # most events per callback
    # (request, URL the provider signs, connection options, now) -> the request as the provider signs
    # it (headers or parameters added); called at send time, only when the secret is given.
    sign: Callable[[Request, str, Mapping[str, str], datetime], Request] | None = None
    # Connection options (secrets) the tests sign and verify with; empty for providers that do not sign.
    example: Mapping[str, Any] = field(default_factory=dict)


Simulated = Profile  # the name before profiles were split into modules
