"""``smshook simulate``: realistic provider callbacks, in each provider's exact wire format.

Tests a setup before a provider ever calls, and feeds benchmarks. A run is planned up front from
one seed (so ``--seed`` replays the same messages, statuses, order and retries; the times follow
the clock), then sent with ``httpx.AsyncClient`` at a fixed rate by a few concurrent workers, and
every answer is checked against what the provider itself expects.

What each provider sends lives in its profile module, ``smshook/simulate/profiles/<slug>.py``
(:mod:`smshook.simulate.profiles`): its messages' receipt sequences, inbound messages, the exact
wire format, the answer it expects, and — for providers that sign — how it signs a callback given
the connection's secret (``--option auth_token=…``; ``--signed-url`` when the provider signs a
URL other than ``--url``, e.g. behind a proxy). Signatures are made at send time, so timestamps
are fresh.

``--count`` is the number of HTTP requests; ``--duplicates`` of them are verbatim re-sends of
earlier ones (placed after their original). ``--inbound-share`` is the share of generated events
that are inbound messages (webcom has none). Each unique callback's events are distinct by the
provider's own data, so the server must store exactly ``unique_events`` events.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import click

from smshook import settings
from smshook.providers import get as get_provider
from smshook.providers.base import declared_options
from smshook.simulate.common import FORM, Ctx, Item, Options, Profile, Request, Simulated
from smshook.simulate.profiles import Profiles

if TYPE_CHECKING:
    import httpx

__all__ = ["FORM", "PROVIDERS", "Callback", "Ctx", "Item", "Options", "Plan", "Profile", "Request", "Simulated",
           "deliver", "is_loopback", "plan", "simulate", "summary"]

# Every registered provider's simulator profile, by slug.
PROVIDERS: Profiles = Profiles()

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
    options: Options = field(default_factory=Options)

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
    return Plan(provider, seed, [cb for _, cb in placed], ctx.options)


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


def signed(profile: Profile, request: Request, url: str, options: Options, now: datetime | None = None) -> Request:
    """``request`` as the provider signs it for ``url`` (the URL it is sent to), when the profile
    signs and the connection's options are given; unchanged otherwise."""
    if profile.sign is None or not options.connection:
        return request
    from smshook.web.public_url import configured

    query = request[1]
    sent = target(url, query)
    signed_url = configured(options.public_url, urlsplit(sent).query.encode("latin-1")) if options.public_url \
        else sent
    return profile.sign(request, signed_url, options.connection, now or datetime.now(UTC))


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

    profile = PROVIDERS[the_plan.provider]
    check = profile.check
    tally = Tally()
    queue = iter(enumerate(the_plan.callbacks))
    loop = asyncio.get_running_loop()

    async def one(client: httpx.AsyncClient, index: int, callback: Callback) -> None:
        request = signed(profile, callback.request, url, the_plan.options)
        method, query, headers, body = request
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
        wrong = check(request, answer)
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


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine: ``localhost``, ``*.localhost`` or a loopback address."""
    host = urlsplit(url).hostname
    return host is not None and (host.endswith(".localhost") or settings.is_loopback(host))


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
@click.option("--option", "-o", "connection_options", multiple=True, metavar="KEY=VALUE",
              help="A connection option of the provider (its secret, e.g. -o auth_token=…): callbacks are "
              "signed with it as the provider signs them. Repeatable.")
@click.option("--signed-url", metavar="URL", help="The URL the provider signs (the connection's public_url), "
              "when it differs from --url (a proxy in between).")
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
    connection_options: tuple[str, ...],
    signed_url: str | None,
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
    known = {o.name for o in declared_options(get_provider(provider))}
    values: dict[str, str] = {}
    for item in connection_options:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            _fail(f"--option {key!r}: {provider} connections take " + (", ".join(sorted(known)) or "no options")
                  + " (as KEY=VALUE)")
        values[key] = value
    if signed_url is not None and urlsplit(signed_url).scheme not in ("http", "https"):
        _fail(f"--signed-url {signed_url!r} is not an http(s) URL")
    the_plan = plan(provider, count=count, duplicates=duplicates, out_of_order=out_of_order,
                    inbound_share=inbound_share, seed=seed, options=Options(fmt, username, pin, values, signed_url))
    if sys.stderr.isatty():
        with click.progressbar(length=count, label=f"{provider} callbacks", file=sys.stderr) as bar:
            tally = asyncio.run(deliver(url, the_plan, rate=rate, concurrency=concurrency, answer_timeout=timeout,
                                        progress=lambda: bar.update(1)))
    else:
        tally = asyncio.run(deliver(url, the_plan, rate=rate, concurrency=concurrency, answer_timeout=timeout))
    data = summary(url, the_plan, tally)
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else render_summary(data))
    raise SystemExit(0 if data["ok"] else 1)
