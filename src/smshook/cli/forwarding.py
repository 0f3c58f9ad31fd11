"""The outbox commands: ``smshook deliveries`` (list deliveries to subscriptions) and ``smshook replay``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from smshook.cli.common import config_option, connection_option, database_option, fail, settings_for, utc, with_store

if TYPE_CHECKING:
    from smshook.storage import Store


@click.command()
@config_option
@database_option
@click.option("--subscription", "subscription_id", help="Only this subscription.")
@click.option("--state", type=click.Choice(["pending", "delivering", "delivered", "dead"]), help="Only this state.")
@click.option("--event", "event_id", help="Only this event id.")
@connection_option
@click.option("--message", "message_id", help="Only this provider message id.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def deliveries(config_file: Path | None, database: str | None, subscription_id: str | None, state: str | None,
               event_id: str | None, connection: str | None, message_id: str | None, limit: int,
               as_json: bool) -> None:
    """List deliveries to subscriptions (the outbox), newest first."""
    from smshook.forwarding.model import DeliveryQuery
    from smshook.forwarding.waiting import annotate_waiting

    query = DeliveryQuery(subscription_id, state, event_id, connection, message_id, limit)

    async def read(store: Store) -> list[dict[str, Any]]:  # with why each unfinished one waits
        return await annotate_waiting(store, await store.deliveries(query),
                                      {s.id: s for s in await store.subscriptions()})

    rows: list[dict[str, Any]] = with_store(settings_for(config_file, database), read)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        click.echo("no deliveries", err=True)
        return
    click.echo(f"{'webhook-id':<36}  {'subscription':<16}  {'event':<36}  {'state':<10}  tries  "
               f"{'next attempt':<24}  last error")
    for r in rows:
        click.echo(f"{r['id']:<36}  {r['subscription_id']:<16}  {r['event_id']:<36}  {r['state']:<10}  "
                   f"{r['attempts']:>5}  {r['next_attempt_at'] or '-':<24}  {r['last_error'] or ''}")
        if r["waiting"]:
            click.echo(f"{'':<36}  waits {r['waiting']}" + (f": {r['waiting_for']}" if r["waiting_for"] else ""))


@click.command()
@config_option
@database_option
@click.option("--event", "event_ids", multiple=True, help="An event id (repeatable).")
@click.option("--subscription", "subscription_id", help="Only this subscription (with --since/--until: also "
              "events it never had).")
@click.option("--connection", help="With --message: the connection.")
@click.option("--message", "message_id", help="Every event of this provider message id.")
@click.option("--since", help="Events received at or after (ISO 8601).")
@click.option("--until", help="Events received before (ISO 8601).")
@click.option("--state", "states", multiple=True, type=click.Choice(["pending", "delivered", "dead"]),
              help="Only deliveries in this state (repeatable) [default: any not in flight].")
@click.option("--json", "as_json", is_flag=True, help='Print {"replayed": N} for scripts.')
def replay(config_file: Path | None, database: str | None, event_ids: tuple[str, ...], subscription_id: str | None,
           connection: str | None, message_id: str | None, since: str | None, until: str | None,
           states: tuple[str, ...], as_json: bool) -> None:
    """Send deliveries again (dead-lettered or past), with their original webhook-id.

    A running server picks them up at its next poll."""
    import time

    from smshook.forwarding.model import ReplayQuery

    if not (event_ids or subscription_id or message_id):
        fail("give --event, --message or --subscription")
    query = ReplayQuery(event_ids, subscription_id, connection, message_id, utc(since, "--since"),
                        utc(until, "--until"), states)
    count = with_store(settings_for(config_file, database), lambda s: s.replay(query, time.time()))
    click.echo(json.dumps({"replayed": count}) if as_json else f"replayed {count} deliveries")


COMMANDS = (deliveries, replay)
