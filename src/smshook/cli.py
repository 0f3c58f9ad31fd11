"""The ``smshook`` command (also ``python -m smshook``).

Configuration errors print ``error: …`` on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from smshook import __version__
from smshook.errors import ConfigError
from smshook.settings import Settings, check_exposure, load_settings, reference_markdown

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

if TYPE_CHECKING:
    from smshook.storage import Store
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
        from smshook.preflight import signing_warnings

        return settings, check_exposure(settings) + signing_warnings(settings)
    except ConfigError as exc:
        _fail(str(exc))


def _stderr(line: str) -> None:
    click.echo(line, err=True)


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Group(click.Group):
    """A command group whose --help shows each command's first sentence whole (click cuts it at ~45
    characters with "...")."""

    group_class = type  # subgroups (``smshook config``) list their commands the same way

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str(limit=1000)) for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--no-migrate", is_flag=True, help="Do not apply database migrations at start (see `smshook migrate`).")
@click.option("--workers", type=click.IntRange(1, 64), help="Server processes sharing the port [default: 1].")
@click.option("--trusted-proxies", metavar="CIDR,…",
              help="Reverse proxies whose X-Forwarded-For gives the client address [default: none].")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False),
              help="Least severe log messages shown; info includes an access line per hook request [default: info].")
@click.option("--log-format", type=click.Choice(("text", "json"), case_sensitive=False),
              help="Log lines as text or as JSON objects, one per line [default: text].")
def serve(
    config_file: Path | None,
    host: str | None,
    port: int | None,
    database: str | None,
    api_token: str | None,
    insecure: bool,
    no_migrate: bool,
    workers: int | None,
    trusted_proxies: str | None,
    log_level: str | None,
    log_format: str | None,
) -> None:
    """Receive provider callbacks at /hooks/NAME and serve the API."""
    settings, warnings = _load(
        config_file,
        host=host,
        port=port,
        database=database,
        api_token=api_token,
        insecure=True if insecure else None,
        auto_migrate=False if no_migrate else None,
        workers=workers,
        trusted_proxies=trusted_proxies,
        log_level=log_level,
        log_format=log_format,
    )
    from smshook import logs
    from smshook.preflight import port_problem

    problem = port_problem(settings.host, settings.port)  # before the banner, the store and uvicorn
    if problem is not None:
        _fail(problem)
    log_options = (settings.log_level, settings.log_format, not settings.log_phone_numbers)
    logs.configure(*log_options)
    url = base_url(settings.host, settings.port)
    logger = logging.getLogger("smshook")
    json_logs = settings.log_format == "json"  # then every stderr line is a JSON object
    echo: Callable[..., None] = logger.info if json_logs else _stderr
    processes = f" ({settings.workers} worker processes)" if settings.workers > 1 else ""
    echo(f"smshook {__version__} listening on {url}{processes}")
    for name, conn in settings.connections.items():
        suffix = "/<token>" if conn.token is not None else ""
        echo(f"  {name:<16} {conn.provider:<11} {url}/hooks/{name}{suffix}")
    from smshook.preflight import subscription_lines

    for line in subscription_lines(settings):
        echo(line)
    for warning in warnings:
        if json_logs:
            logger.warning(warning)
        else:
            echo(click.style(f"WARNING: {warning}", fg="yellow", bold=True))

    import uvicorn

    from smshook.web.protocol import GuardedHttpToolsProtocol

    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "loop": "uvloop", "lifespan": "on",
        "http": GuardedHttpToolsProtocol,  # httptools, with header limits and read timeouts (web/protocol.py)
        "access_log": False, "log_level": settings.log_level, "timeout_graceful_shutdown": 5,
        "log_config": logs.dict_config(*log_options),  # applied again in every worker process
        "proxy_headers": False,  # X-Forwarded-For is believed only from trusted_proxies (web/hooks.py)
    }
    if settings.workers == 1:
        from smshook.app import create_app

        uvicorn.run(create_app(settings, server=True), **options)
        return
    from smshook.app import WORKER_SETTINGS, prepare_store, settings_json
    from smshook.errors import StoreError

    try:
        prepare_store(settings)  # migrations once, before the workers
    except (ConfigError, StoreError) as exc:
        _fail(str(exc))
    os.environ[WORKER_SETTINGS] = settings_json(settings)
    uvicorn.run("smshook.app:worker_app", factory=True, workers=settings.workers, **options)


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
@click.option("--update", "update_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Rewrite the generated tables in this Markdown file (between its marker comments).")
def config_reference(update_file: Path | None) -> None:
    """Print the settings reference as Markdown (the README's tables are generated from it)."""
    if update_file is None:
        click.echo(reference_markdown(), nl=False)
        return
    from smshook.reference_doc import update

    try:
        changed = update(update_file, reference_markdown())
    except ConfigError as exc:
        _fail(f"{update_file}: {exc}")
    click.echo(f"{update_file}: {'updated' if changed else 'already up to date'}")


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


def with_store(settings: Settings, call: Callable[[Store], Awaitable[T]], announce: bool = True) -> T:
    """Open the configured store (no server needed: SQLite is shared safely between processes), run
    ``call``, close it (also on Ctrl-C); a store or value error ends the command with its message."""
    import asyncio

    from smshook.errors import StoreError
    from smshook.preflight import describe_database, existing_database
    from smshook.storage import make_store

    try:
        existing_database(settings.database)  # reading commands never create one
    except ConfigError as exc:
        _fail(str(exc))
    if announce:  # which database was read, on stderr (stdout stays data)
        click.echo(f"database: {describe_database(settings.database)}", err=True)

    async def run() -> T:
        store = make_store(settings.database, auto_migrate=settings.auto_migrate)
        await store.open()
        try:
            return await call(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (ConfigError, StoreError, ValueError) as exc:
        _fail(str(exc))


def _store_call(config_file: Path | None, database: str | None, call: Callable[[Store], Awaitable[T]]) -> T:
    return with_store(_load(config_file, database=database)[0], call)


def _utc(value: str | None, name: str) -> str | None:
    from datetime import UTC, datetime

    from smshook.events import stamp

    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{name}: {value!r} is not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)")
    return stamp(when if when.tzinfo else when.replace(tzinfo=UTC))


@main.command()
@config_option
@click.option("--database", help="sqlite:///PATH or postgresql://… [default: from the configuration].")
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
    from smshook.forwarding.waiting import annotate_waiting

    query = DeliveryQuery(subscription_id, state, event_id, connection, message_id, limit)

    async def read(store: Store) -> list[dict[str, Any]]:  # with why each unfinished one waits
        return await annotate_waiting(store, await store.deliveries(query),
                                      {s.id: s for s in await store.subscriptions()})

    rows: list[dict[str, Any]] = _store_call(config_file, database, read)
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


@main.command()
@config_option
@click.option("--database", help="sqlite:///PATH or postgresql://… [default: from the configuration].")
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
        _fail("give --event, --message or --subscription")
    query = ReplayQuery(event_ids, subscription_id, connection, message_id, _utc(since, "--since"),
                        _utc(until, "--until"), states)
    count = _store_call(config_file, database, lambda s: s.replay(query, time.time()))
    click.echo(json.dumps({"replayed": count}) if as_json else f"replayed {count} deliveries")


@main.command()
@config_option
@click.option("--database", help="sqlite:///PATH or postgresql://… [default: from the configuration].")
def migrate(config_file: Path | None, database: str | None) -> None:
    """Apply pending database migrations and print them (serve does this at start unless --no-migrate)."""
    import asyncio

    from smshook.errors import StoreError
    from smshook.settings import mask_url
    from smshook.storage import make_store

    settings, _ = _load(config_file, database=database)
    try:
        applied: list[str] = asyncio.run(make_store(settings.database).upgrade())
    except (ConfigError, StoreError) as exc:
        _fail(str(exc))
    for name in applied:
        click.echo(f"applied {name}")
    state = f"{len(applied)} migration(s) applied" if applied else "nothing to apply"
    click.echo(f"{mask_url(settings.database)}: schema up to date ({state})")


# `smshook simulate` lives beside its per-provider generators (it imports httpx only when sending).
from smshook.simulate import simulate  # noqa: E402

main.add_command(simulate)

# The operator's commands (connections, events, tail, status, reprocess, stats, doctor).
from smshook.cli_operator import COMMANDS  # noqa: E402

for _command in COMMANDS:
    main.add_command(_command)

# Data protection: erase, prune, dismiss.
from smshook.cli_privacy import COMMANDS as PRIVACY_COMMANDS  # noqa: E402

for _command in PRIVACY_COMMANDS:
    main.add_command(_command)

# Message lifecycle: register, optouts.
from smshook.cli_lifecycle import COMMANDS as LIFECYCLE_COMMANDS  # noqa: E402

for _command in LIFECYCLE_COMMANDS:
    main.add_command(_command)
