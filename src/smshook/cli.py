"""The ``smshook`` command (also ``python -m smshook``).

Configuration errors print ``error: …`` on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from smshook import __version__
from smshook.errors import ConfigError
from smshook.settings import Settings, check_exposure, load_settings, reference_markdown

F = TypeVar("F", bound=Callable[..., Any])
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="SMSHOOK_CONFIG",
        show_envvar=True,
        help="TOML config file (flags and SMSHOOK_* variables override it).",
    )(func)


def _load(config_file: Path | None, **overrides: Any) -> tuple[Settings, list[str]]:
    try:
        settings = load_settings(config_file, **overrides)
        return settings, check_exposure(settings)
    except ConfigError as exc:
        _fail(str(exc))


def _stderr(line: str) -> None:
    click.echo(line, err=True)


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smshook")
def main() -> None:
    """smshook: SMS provider callbacks in, durable normalized events out."""


@main.command()
@config_option
@click.option("--host", help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="TCP port [default: 8080].")
@click.option("--database", help="sqlite:///PATH or postgresql://… [default: sqlite:///smshook.db].")
@click.option("--api-token", help="API bearer token (prefer SMSHOOK_API_TOKEN: flags show in `ps`).")
@click.option("--insecure", is_flag=True, help="Start on a public address even when unprotected.")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    envvar="SMSHOOK_LOG_LEVEL",
    show_default=True,
    show_envvar=True,
)
def serve(
    config_file: Path | None,
    host: str | None,
    port: int | None,
    database: str | None,
    api_token: str | None,
    insecure: bool,
    log_level: str,
) -> None:
    """Receive provider callbacks at /hooks/NAME and serve the API."""
    settings, warnings = _load(
        config_file,
        host=host,
        port=port,
        database=database,
        api_token=api_token,
        insecure=True if insecure else None,
    )
    url = base_url(settings.host, settings.port)
    echo = _stderr
    echo(f"smshook {__version__} listening on {url}")
    for name, conn in settings.connections.items():
        suffix = "/<token>" if conn.token is not None else ""
        echo(f"  {name:<16} {conn.provider:<10} {url}/hooks/{name}{suffix}")
    for warning in warnings:
        echo(click.style(f"WARNING: {warning}", fg="yellow", bold=True))

    import uvicorn

    from smshook.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level.lower(),
        timeout_graceful_shutdown=5,
    )


@main.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
def config_check(config_file: Path | None, as_json: bool) -> None:
    """Validate the configuration and print it, secrets masked (exit 2 when invalid)."""
    settings, warnings = _load(config_file)
    for warning in warnings:
        click.echo(f"WARNING: {warning}", err=True)
    data = settings.redacted()
    click.echo(json.dumps(data, indent=2) if as_json else to_toml(data))


@config.command("reference")
def config_reference() -> None:
    """Print the settings reference as Markdown (for the README)."""
    click.echo(reference_markdown(), nl=False)


def to_toml(data: Mapping[str, Any]) -> str:
    """Render the redacted settings as TOML: scalars first, then one table per connection."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))

    def table(items: Mapping[str, Any]) -> list[str]:
        return [f"{key} = {value(v)}" for key, v in items.items() if v is not None and not isinstance(v, dict)]

    lines = table(data)
    if not data.get("connections"):
        lines.append("connections = {}")  # none at all (leaving it out would mean the defaults)
    for name, conn in data.get("connections", {}).items():
        lines += ["", f"[connections.{name}]", *table(conn)]
    for name, sub in data.get("subscriptions", {}).items():
        lines += ["", f"[subscriptions.{name}]", *table(sub)]
        if any(sub.get("filters", {}).values()):
            lines += ["", f"[subscriptions.{name}.filters]", *table(sub["filters"])]
    return "\n".join(lines)


def _store_call(config_file: Path | None, database: str | None, call: Callable[[Any], Any]) -> Any:
    """Open the configured store (no server needed: SQLite is shared safely), run ``call``, close."""
    import asyncio

    from smshook.errors import StoreError
    from smshook.storage import make_store

    settings, _ = _load(config_file, database=database)

    async def run() -> Any:
        store = make_store(settings.database)
        await store.open()
        try:
            return await call(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (ConfigError, StoreError, ValueError) as exc:
        _fail(str(exc))


def _utc(value: str | None, name: str) -> str | None:
    from datetime import UTC, datetime

    from smshook.events import iso

    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{name}: {value!r} is not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)")
    return iso(when if when.tzinfo else when.replace(tzinfo=UTC))


@main.command()
@config_option
@click.option("--database", help="sqlite:///PATH [default: from the configuration].")
@click.option("--subscription", "subscription_id", help="Only this subscription.")
@click.option("--state", type=click.Choice(["pending", "delivering", "delivered", "dead"]), help="Only this state.")
@click.option("--event", "event_id", help="Only this event id.")
@click.option("--connection", help="Only this connection.")
@click.option("--message", "message_id", help="Only this provider message id.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def deliveries(config_file: Path | None, database: str | None, subscription_id: str | None, state: str | None,
               event_id: str | None, connection: str | None, message_id: str | None, limit: int,
               as_json: bool) -> None:
    """List deliveries to subscriptions (the outbox), newest first."""
    from smshook.forwarding.model import DeliveryQuery

    query = DeliveryQuery(subscription_id, state, event_id, connection, message_id, limit)
    rows: list[dict[str, Any]] = _store_call(config_file, database, lambda s: s.deliveries(query))
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    click.echo(f"{'webhook-id':<36}  {'subscription':<16}  {'event':<36}  {'state':<10}  tries  "
               f"{'next attempt':<24}  last error")
    for r in rows:
        click.echo(f"{r['id']:<36}  {r['subscription_id']:<16}  {r['event_id']:<36}  {r['state']:<10}  "
                   f"{r['attempts']:>5}  {r['next_attempt_at'] or '-':<24}  {r['last_error'] or ''}")


@main.command()
@config_option
@click.option("--database", help="sqlite:///PATH [default: from the configuration].")
@click.option("--event", "event_ids", multiple=True, help="An event id (repeatable).")
@click.option("--subscription", "subscription_id", help="Only this subscription (with --since/--until: also "
              "events it never had).")
@click.option("--connection", help="With --message: the connection.")
@click.option("--message", "message_id", help="Every event of this provider message id.")
@click.option("--since", help="Events received at or after (ISO 8601).")
@click.option("--until", help="Events received before (ISO 8601).")
@click.option("--state", "states", multiple=True, type=click.Choice(["pending", "delivered", "dead"]),
              help="Only deliveries in this state (repeatable) [default: any not in flight].")
def replay(config_file: Path | None, database: str | None, event_ids: tuple[str, ...], subscription_id: str | None,
           connection: str | None, message_id: str | None, since: str | None, until: str | None,
           states: tuple[str, ...]) -> None:
    """Send deliveries again (dead-lettered or past), with their original webhook-id.

    A running server picks them up at its next poll."""
    import time

    from smshook.forwarding.model import ReplayQuery

    if not (event_ids or subscription_id or message_id):
        _fail("give --event, --message or --subscription")
    query = ReplayQuery(event_ids, subscription_id, connection, message_id, _utc(since, "--since"),
                        _utc(until, "--until"), states)
    count = _store_call(config_file, database, lambda s: s.replay(query, time.time()))
    click.echo(f"replayed {count} deliveries")


# `smshook simulate` lives beside its per-provider generators (it imports httpx only when sending).
from smshook.simulate import simulate  # noqa: E402

main.add_command(simulate)
