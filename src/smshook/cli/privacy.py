"""Data-protection commands: ``smshook erase PHONE``, ``smshook prune [--dry-run]`` and
``smshook dismiss ID --who … --why …``."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click

from smshook.cli.common import config_option, database_option, fail, json_option, settings_for, with_store
from smshook.privacy import subscriber_digits
from smshook.storage import Store, privacy


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.command()
@config_option
@database_option
@click.argument("phone")
@click.option("--who", help="Who asks (kept in the audit row) [default: cli:<user>].")
@json_option
def erase(config_file: Path | None, database: str | None, phone: str, who: str | None, as_json: bool) -> None:
    """Erase a subscriber: anonymize every event, raw request, quarantine entry and delivery that holds
    PHONE, written any way (+447700900123, 00447700900123, 44 7700 900123, URL-encoded).

    Prints the counts; an audit row (without the number) records it."""
    try:
        digits = subscriber_digits(phone)
    except ValueError as exc:
        fail(f"PHONE: {exc}")
    settings = settings_for(config_file, database)
    counts, audit_id = with_store(settings, lambda store: privacy.erase(store, digits, who or _operator()))
    if as_json:
        click.echo(json.dumps({"erased": counts, "audit_id": audit_id}))
        return
    click.echo("erased: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + f" (audit {audit_id})")


@click.command()
@config_option
@database_option
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@json_option
def prune(config_file: Path | None, database: str | None, dry_run: bool, as_json: bool) -> None:
    """Delete what is older than the configured retention ([retention] and connections' own), in small
    batches, as the server's background pruner does. Prints the counts."""
    settings = settings_for(config_file, database)
    plan = settings.retention_plan()
    if not plan.active:
        counts = privacy.Pruned().counts()
        note = "no retention configured ([retention] events / raw_requests): everything is kept for ever"
    else:
        counts = with_store(settings, lambda store: privacy.prune(store, plan, dry_run=dry_run,
                                                                  batch=settings.retention.batch_size,
                                                                  actor=_operator()))
        note = ""
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "pruned": counts}))
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    if note:
        click.echo(note)


@click.command()
@config_option
@database_option
@click.argument("quarantine_id", metavar="ID")
@click.option("--who", help="Who dismisses it [default: cli:<user>].")
@click.option("--why", required=True, help="Why it needs no re-processing (kept with the entry).")
@json_option
def dismiss(config_file: Path | None, database: str | None, quarantine_id: str, who: str | None, why: str,
            as_json: bool) -> None:
    """Dismiss a quarantined request: it is kept, marked resolved with who, why and when, and no longer
    counts as open (GET /v1/quarantine?state=dismissed lists it)."""
    settings = settings_for(config_file, database)
    actor = who or _operator()

    async def run(store: Store) -> dict[str, Any]:
        try:
            entry = await privacy.dismiss_quarantine(store, quarantine_id, actor, why)
        except KeyError:
            fail(f"no quarantine entry {quarantine_id!r}")
        except ValueError as exc:
            fail(str(exc))
        await privacy.audit(store, "dismiss", actor, {"quarantine_id": quarantine_id})
        return entry

    entry = with_store(settings, run)
    if as_json:
        click.echo(json.dumps({k: v for k, v in entry.items() if k != "request"}))
    else:
        click.echo(f"{quarantine_id}: dismissed by {actor} at {entry['dismissed_at']}")


COMMANDS = (erase, prune, dismiss)
