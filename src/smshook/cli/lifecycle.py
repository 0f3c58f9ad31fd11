"""The message-lifecycle commands (issue 15): ``smshook register`` (register sent messages from a CSV
or NDJSON file, as ``POST /v1/messages`` does) and ``smshook optouts`` (list and export opt-outs).
Each reads the configured store directly, like the operator's commands.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from smshook.cli.common import config_option, database_option, dump, fail, json_option, pages, settings_for, with_store
from smshook.events import stamp
from smshook.lifecycle import registration
from smshook.lifecycle import store as lifecycle_store
from smshook.lifecycle.erased import lookup_number
from smshook.privacy import ERASED
from smshook.providers import formats


def read_items(text: str, kind: str) -> list[tuple[int, Any]]:
    """``(line, item)`` pairs from CSV (a header row naming the fields; ``parts`` separated by ``;`` or
    spaces, ``metadata`` as JSON) or NDJSON (one JSON object per line). Raises ValueError naming the line."""
    if kind == "auto":
        kind = "ndjson" if text.lstrip().startswith("{") else "csv"
    items: list[tuple[int, Any]] = []
    if kind == "ndjson":
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {number}: not JSON ({exc.msg})") from None
        return items
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        number = reader.line_num
        item: dict[str, Any] = {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")}
        if "parts" in item:
            item["parts"] = item["parts"].replace(";", " ").split()
        if "metadata" in item:
            try:
                item["metadata"] = json.loads(item["metadata"])
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: metadata: not JSON ({exc.msg})") from None
        items.append((number, item))
    return items


@click.command()
@config_option
@database_option
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--format", "kind", type=click.Choice(["auto", "csv", "ndjson"]), default="auto", show_default=True,
              help="CSV with a header row, or one JSON object per line.")
@click.option("--connection", help="The connection of rows that name none.")
@json_option
def register(config_file: Path | None, database: str | None, file: Path, kind: str, connection: str | None,
             as_json: bool) -> None:
    """Register sent messages from FILE ('-': standard input): fields connection, message_id, to, from,
    reference, parts, sent_at, metadata, as POST /v1/messages. Every row is checked first; nothing is
    stored when one is wrong. Prints how many were new, already registered, or in conflict."""
    settings = settings_for(config_file, database)
    text = sys.stdin.read() if str(file) == "-" else _read(file)
    now = stamp(datetime.now(UTC)) or ""
    try:
        parsed = []
        for number, item in read_items(text, kind):
            if connection is not None and isinstance(item, dict):
                item.setdefault("connection", connection)
            try:
                parsed.append(registration.parse(item, now, settings.connections.keys()))
            except registration.RegistrationError as exc:
                raise ValueError(f"line {number}: {exc}") from None
    except ValueError as exc:
        fail(f"{file}: {exc} (nothing registered)")
    if not parsed:
        fail(f"{file}: no registrations found")

    async def run(store: Any) -> list[tuple[int, dict[str, Any]]]:
        out = []
        for start in range(0, len(parsed), registration.MAX_BATCH):
            out += await lifecycle_store.register(store, parsed[start:start + registration.MAX_BATCH])
        return out

    results = with_store(settings, run)
    counts = {"created": sum(s == 201 for s, _ in results), "existing": sum(s == 200 for s, _ in results),
              "conflicts": sum(s == 409 for s, _ in results)}
    if as_json:
        click.echo(dump({**counts, "errors": [v["error"] for s, v in results if s == 409]}))
    else:
        for status, value in results:
            if status == 409:
                click.echo(f"conflict: {value['error']}", err=True)
        click.echo(f"{counts['created']} registered, {counts['existing']} already registered, "
                   f"{counts['conflicts']} in conflict")
    if counts["conflicts"]:
        sys.exit(1)


def _read(file: Path) -> str:
    try:
        return file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")


OPTOUT_FIELDS = ("phone", "sender", "opted_out", "since", "keyword", "event_id", "connection", "erased")


@click.command()
@config_option
@database_option
@click.option("--phone", help="Only this number (any written form): every sender it opted out of, or back in to.")
@click.option("--check", "sender", metavar="SENDER", help="With --phone: is it opted out of this sender id "
              "(exit 1 when it is)?")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@click.option("--format", "kind", type=click.Choice(["table", "csv", "ndjson"]), default="table", show_default=True,
              help="How to print (csv and ndjson: to export).")
@json_option
def optouts(config_file: Path | None, database: str | None, phone: str | None, sender: str | None, limit: int,
            kind: str, as_json: bool) -> None:
    """List the numbers opted out (STOP), newest first; export them with --format csv or ndjson."""
    settings = settings_for(config_file, database)
    number = lookup_number(phone) if phone is not None else None
    if phone is not None and not number:
        fail("--phone: empty; give a number such as +447700900123")
    if sender is not None:
        if number is None:
            fail("--check needs --phone")
        found = with_store(settings, lambda s: lifecycle_store.check(s, number, formats.phone(sender)))
        if as_json:
            click.echo(dump(found))
        else:
            click.echo(f"{number} {'is OPTED OUT of' if found['opted_out'] else 'may receive from'} {sender}"
                       + (f" (since {found['since']}, {found['keyword']})" if found["opted_out"] else ""))
        sys.exit(1 if found["opted_out"] else 0)

    async def run(store: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        # One number's rows come in one page; the whole list page by page (the API's pages are at most 500).
        async for page in pages(lambda size, before: lifecycle_store.listing(store, number, size, before, True),
                                limit if number is None else min(limit, 500), key="event_id"):
            rows += page
        return rows

    rows = with_store(settings, run)
    if as_json or kind == "ndjson":
        for row in rows:
            click.echo(dump(row))
    elif kind == "csv":
        out = csv.DictWriter(sys.stdout, fieldnames=OPTOUT_FIELDS, extrasaction="ignore", lineterminator="\n")
        out.writeheader()
        out.writerows(rows)
    elif not rows:
        click.echo("no opt-outs")
    else:
        for row in rows:
            scope = row["sender"] or "every sender"
            state = "opted out of" if row["opted_out"] else "opted back in to"
            click.echo(f"{row['since']}  {row['phone'] or ERASED}  {state} {scope}  {row['keyword'] or ''}  "
                       f"{row['connection']}")


COMMANDS = (register, optouts)
