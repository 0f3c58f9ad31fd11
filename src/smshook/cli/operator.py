"""The operator's commands: ``connections``, ``events``, ``tail``, ``status``, ``reprocess``, ``stats``.
Each reads the configured store directly (no server needed: SQLite is shared safely between
processes), prints for people by default and JSON with ``--json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from smshook.cli.common import (
    base_url,
    config_option,
    connection_option,
    database_option,
    dump,
    fail,
    json_option,
    pages,
    settings_for,
    utc,
    with_store,
)
from smshook.errors import ReprocessError
from smshook.settings import Settings
from smshook.storage import EventQuery, Store

# -- connections -----------------------------------------------------------------------------------


def connection_rows(settings: Settings, public_url: str) -> list[dict[str, Any]]:
    """Per connection: the URL to give the provider (with its token), methods and protection."""
    from smshook.web.hooks import connections_from

    rows = []
    for conn in connections_from(settings).values():
        row = conn.describe()
        path = row.pop("path").replace("<token>", conn.token or "")
        # A configured public_url is what the portal holds and what signatures are checked against.
        row["url"] = conn.info.public_url or public_url + path
        if setup := conn.provider.setup(row["url"]):  # lines for the provider's own configuration (Kannel)
            row["setup"] = setup
        rows.append(row)
    return rows


@click.command()
@config_option
@click.option("--public-url", envvar="SMSHOOK_PUBLIC_URL", show_envvar=True, metavar="URL",
              help="How providers reach this server, e.g. https://sms.example.com [default: from host and port].")
@json_option
def connections(config_file: Path | None, public_url: str | None, as_json: bool) -> None:
    """The URL to paste into each provider's portal (token included), its methods and protection."""
    settings = settings_for(config_file, None)
    if public_url is not None:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            fail(f"--public-url: {public_url!r} is not an http(s) URL such as https://sms.example.com")
        base = public_url.rstrip("/")
    else:
        base = base_url(settings.host, settings.port)
    rows = connection_rows(settings, base)
    if as_json:
        click.echo(dump({"public_url": base, "connections": rows}))
        return
    if public_url is None:
        click.echo(f"note: URLs built from host and port ({base}); give --public-url https://… with the "
                   "address providers reach this server at", err=True)
    for row in rows:
        protection = ", ".join(row["protection"]) or click.style("UNAUTHENTICATED", fg="yellow", bold=True)
        click.echo(f"{row['connection']}  ({row['provider_name']}, {'/'.join(row['methods'])}; {protection})")
        click.echo(f"  {row['url']}" + ("  (public_url: signatures are checked against it)" if row["public_url"]
                                         else ""))
        for line in row.get("setup", ()):
            click.echo(f"    {line}")
    if not rows:
        click.echo("no connections configured")


# -- events and tail -------------------------------------------------------------------------------


def event_line(e: dict[str, Any]) -> str:
    """One event on one line, for people."""
    who = " ".join(part for part in (f"from {e['from']}" if e["from"] else "", f"to {e['to']}" if e["to"] else "")
                   if part)
    if e["type"] == "status":
        what = f"{e['status'] or '-':<11} {e['message_id'] or '-'}"
        if e["failure_class"]:
            what += f" ({e['failure_class']})"
    else:
        text = (e["text"] or "").replace("\n", " ")
        shown = json.dumps(text[:60] + ("…" if len(text) > 60 else ""), ensure_ascii=False)
        what = f"{e['keyword'] or '-':<11} {shown}"
        if e["reply_to"]:
            what += f" reply to {e['reply_to']}"
    return f"{e['received_at']}  {e['connection']:<12} {e['type']:<7}  {what}  {who}".rstrip()


def _phone(value: str | None) -> str | None:
    from smshook.providers import formats

    if value is None:
        return None
    number = formats.phone(value)
    if number is None:
        fail("--phone: empty; give a number such as +31612345678")
    return number


type_option = click.option("--type", "event_type", type=click.Choice(["status", "inbound", "optout", "optin"]),
                           help="Only this type.")
phone_option = click.option("--phone", help="Only events from or to this number (+31612345678, 0031… or 31…).")


@click.command()
@config_option
@database_option
@connection_option
@type_option
@click.option("--message", "message_id", help="Only this provider message id.")
@click.option("--status", help="Only this unified status (delivered, failed, …).")
@phone_option
@click.option("--since", help="Received at or after (ISO 8601).")
@click.option("--until", help="Received before (ISO 8601).")
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "ndjson"]), default="text", show_default=True,
              help="text for people; csv (a header row, then one row per event) or ndjson (= --json) for files.")
@json_option
def events(config_file: Path | None, database: str | None, connection: str | None, event_type: str | None,
           message_id: str | None, status: str | None, phone: str | None, since: str | None, until: str | None,
           limit: int, fmt: str, as_json: bool) -> None:
    """List events, newest first (the filters of GET /v1/events). --json: one event per line."""
    from smshook import export
    from smshook.status import STATUSES

    if status is not None and status not in STATUSES:
        fail(f"--status: {status!r} is not one of {', '.join(STATUSES)}")
    fmt = "ndjson" if as_json else fmt
    query = EventQuery(connection, event_type, message_id, status, utc(since, "--since"), None, min(limit, 500),
                       phone=_phone(phone), until=utc(until, "--until"))

    async def write(store: Store) -> int:
        shown, header = 0, True
        async for rows in pages(lambda size, before: store.events(replace(query, before=before, limit=size)), limit):
            click.echo("".join(export.lines(rows, "csv" if fmt == "csv" else "ndjson", header) if fmt != "text"
                               else (event_line(r) + "\n" for r in rows)), nl=False)  # one write per page
            header = False
            shown += len(rows)
        if header and fmt == "csv":
            click.echo("".join(export.csv_lines([])), nl=False)
        return shown

    if not with_store(settings_for(config_file, database), write) and fmt == "text":
        click.echo("no events", err=True)


async def follow(store: Store, emit: Callable[[dict[str, Any]], None], *, connection: str | None = None,
                 event_type: str | None = None, phone: str | None = None, backlog: int = 0,
                 interval: float = 0.5, max_events: int | None = None, seconds: float | None = None,
                 started: Callable[[], None] | None = None) -> int:
    """Print events as they are committed (by any process) until ``max_events`` or ``seconds`` passed;
    first the last ``backlog`` ones. ``started`` is called once every later event is sure to be
    seen. Returns how many were printed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds if seconds else None
    position = await store.feed_position()
    if started is not None:
        started()
    shown = 0
    seen: set[str] = set()

    def wanted(event: dict[str, Any]) -> bool:
        return phone is None or phone in (event["from"], event["to"])

    if backlog:
        earlier = await store.events(EventQuery(connection, event_type, limit=backlog, phone=phone))
        for event in reversed(earlier):
            seen.add(event["id"])
            emit(event)
            shown += 1
            if max_events is not None and shown >= max_events:
                return shown
    while deadline is None or loop.time() < deadline:
        batch = await store.feed(position, 500, connection, event_type)
        for at, event in batch:
            position = at
            if event["id"] in seen or not wanted(event):
                continue
            emit(event)
            shown += 1
            if max_events is not None and shown >= max_events:
                return shown
        if len(batch) < 500:
            wait = interval if deadline is None else max(0.0, min(interval, deadline - loop.time()))
            await asyncio.sleep(wait)
    return shown


@click.command()
@config_option
@database_option
@connection_option
@type_option
@phone_option
@click.option("-n", "--lines", type=click.IntRange(0, 10_000), default=10, show_default=True,
              help="Show the last N events first.")
@click.option("--interval", type=click.FloatRange(0.05, 60), default=0.5, show_default=True,
              help="Seconds between polls of the store.")
@click.option("--max-events", type=click.IntRange(1), help="Stop after printing this many events.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), help="Stop after this many seconds.")
@json_option
def tail(config_file: Path | None, database: str | None, connection: str | None, event_type: str | None,
         phone: str | None, lines: int, interval: float, max_events: int | None, timeout: float | None,
         as_json: bool) -> None:
    """Follow events live as they are stored (Ctrl-C stops). --json: one event per line."""
    number = _phone(phone)

    def emit(event: dict[str, Any]) -> None:
        click.echo(dump(event) if as_json else event_line(event))

    settings = settings_for(config_file, database)
    from smshook.preflight import describe_database

    where = describe_database(settings.database)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the store was closed on the way out
        with_store(settings, lambda s: follow(
            s, emit, connection=connection, event_type=event_type, phone=number, backlog=lines, interval=interval,
            max_events=max_events, seconds=timeout,
            started=lambda: click.echo(f"following new events in {where} (Ctrl-C stops)", err=True)), announce=False)


# -- status ----------------------------------------------------------------------------------------


@click.command()
@config_option
@database_option
@click.argument("connection")
@click.argument("message_id")
@json_option
def status(config_file: Path | None, database: str | None, connection: str, message_id: str, as_json: bool) -> None:
    """A sent message's current status and timeline, late and conflicting events marked (exit 1: unknown)."""
    from smshook.lifecycle.store import describe  # with the registration, parts and time to final

    found = with_store(settings_for(config_file, database), lambda s: describe(s, connection, message_id))
    if found is None:
        click.echo(f"error: no events for message {message_id!r} on connection {connection!r}", err=True)
        raise SystemExit(1)
    if as_json:
        click.echo(dump(found))
        return
    flags = ["final" if found["final"] else "not final"]
    if found["conflict"]:
        flags.append(click.style("CONFLICT: providers reported different final statuses", fg="red", bold=True))
    click.echo(f"{connection} {message_id}: {found['status'] or 'no status (inbound only)'} ({', '.join(flags)})")
    if found.get("registered"):
        parts = ", ".join(f"{p['message_id']} {p['status'] or 'no receipt'}" for p in found["parts"])
        ttf = found["time_to_final_s"]
        click.echo(f"  registered: reference {found['reference'] or '-'}, sent {found['sent_at']}, time to final "
                   f"{'-' if ttf is None else f'{ttf:g} s'}" + (f"; parts: {parts}" if parts else "")
                   + (" (PARTLY DELIVERED)" if found["partial"] else ""))
    effects: dict[str, str] = found.get("effects", {})
    for e in found["events"]:
        effect = effects.get(e["id"])
        mark = {"late": click.style("LATE (kept, status unchanged)", fg="yellow"),
                "conflict": click.style("CONFLICT", fg="red", bold=True),
                "late_final": click.style("LATE FINAL (replaced smshook's expired)", fg="yellow")}.get(effect or "", "")
        when = e["occurred_at"] or "-"
        if e["type"] == "status":
            what = f"{e['status']:<11} provider {e['provider_status'] or '-'}"
            if e["failure_class"]:
                what += f" ({e['failure_class']})"
        else:
            what = f"reply from {e['from'] or '?'}: {json.dumps(e['text'] or '', ensure_ascii=False)}"
        click.echo(f"  {when:<24} received {e['received_at']:<24} {what}  {mark}".rstrip())


# -- reprocess -------------------------------------------------------------------------------------


@click.command()
@config_option
@database_option
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "every", is_flag=True, help="Every quarantined request not re-processed yet.")
@click.option("--connection", help="With --all: only this connection's.")
@json_option
def reprocess(config_file: Path | None, database: str | None, ids: tuple[str, ...], every: bool,
              connection: str | None, as_json: bool) -> None:
    """Run quarantined requests through their connection's current adapter again and store the events.

    Entries stay in the quarantine, marked re-processed; exit 1 when any could not be processed."""
    from smshook.reprocess import reprocess as run_one
    from smshook.web.hooks import connections_from

    if bool(ids) == every:
        fail("give quarantine ids, or --all")
    settings = settings_for(config_file, database)
    configured = connections_from(settings)

    async def run(store: Store) -> list[dict[str, Any]]:
        todo = list(ids) if ids else await _unprocessed(store, connection)
        results = []
        for qid in todo:
            try:
                results.append(await run_one(store, configured, qid))
            except ReprocessError as exc:
                results.append({"id": qid, "reprocessed": False, "status": exc.status, "error": str(exc)})
        return results

    results = with_store(settings, run)
    for r in results:
        if as_json:
            click.echo(dump(r))
        elif r["reprocessed"]:
            click.echo(f"{r['id']}: re-processed, {r['events']} new event(s), {r['duplicates']} duplicate(s)")
        else:
            click.echo(f"{r['id']}: not re-processed: {r['error']}")
    if not as_json:
        done = sum(1 for r in results if r["reprocessed"])
        click.echo(f"{done} of {len(results)} re-processed")
    if any(not r["reprocessed"] for r in results):
        raise SystemExit(1)


async def _unprocessed(store: Store, connection: str | None) -> list[str]:
    found: list[str] = []
    async for page in pages(lambda size, before: store.quarantined(size, before, connection)):
        found += [q["id"] for q in page if q["reprocessed_at"] is None]
    return list(reversed(found))  # oldest first


# -- stats -----------------------------------------------------------------------------------------


def _percent(rate: float | None) -> str:
    return f"{rate * 100:.1f}%" if rate is not None else "-"


def _counts(items: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in items.items()) or "-"


def _places(items: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{k} {v['messages']} ({_percent(v['delivery_rate'])})" for k, v in items.items())


@click.command()
@config_option
@database_option
@click.option("--window", type=click.Choice(["hour", "day", "week"]), default="day", show_default=True)
@connection_option
@json_option
def stats(config_file: Path | None, database: str | None, window: str, connection: str | None,
          as_json: bool) -> None:
    """Delivery rates by connection, status, failure class, country and operator (GET /v1/stats)."""
    from smshook import stats as statistics

    settings = settings_for(config_file, database)
    configured = {name: conn.provider for name, conn in settings.connections.items()}
    data = with_store(settings, lambda s: statistics.collect(s, window, connection, configured))
    if as_json:
        click.echo(dump(data))
        return
    click.echo(f"sent messages first seen {data['since']} to {data['until']} (last {window})")
    click.echo(f"{'connection':<16} {'provider':<11} {'messages':>8} {'delivered':>9} {'failed':>6} {'pending':>7} "
               f"{'rate':>7} {'median':>9}")
    for c in data["connections"]:
        f = c["funnel"]
        median = f"{c['median_time_to_delivery_s']:.1f} s" if c["median_time_to_delivery_s"] is not None else "-"
        click.echo(f"{c['connection']:<16} {c['provider']:<11} {c['messages']:>8} {f['delivered']:>9} "
                   f"{f['failed']:>6} {f['pending']:>7} {_percent(c['delivery_rate']):>7} {median:>9}")
        if c["messages"]:
            click.echo(f"  by status: {_counts(c['by_status'])}")
        if f["failed_by_class"]:
            click.echo(f"  failed by class: {_counts(f['failed_by_class'])}")
        if c["by_country"]:
            click.echo(f"  by country: {_places(c['by_country'])}")
        if c["by_operator"]:
            click.echo(f"  by operator: {_places(c['by_operator'])}")
    click.echo(f"inbound messages: {_counts(data['inbound'])}")


COMMANDS = (connections, events, tail, status, reprocess, stats)
