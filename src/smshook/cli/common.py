"""What every command module of :mod:`smshook.cli` shares: the options they have in common, the one
way to load settings, opening the store, ``error: …`` exits and paging through a listing.

Command modules import this one and never each other (nor :mod:`smshook.cli` itself, which only
registers them), so the package has no import cycle.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from smshook.errors import ConfigError
from smshook.settings import Settings, check_exposure, load_settings

if TYPE_CHECKING:
    from smshook.storage import Store

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

Row = dict[str, Any]
PAGE = 500  # rows per store query when a command pages through a listing (the API's largest page)


def fail(message: str) -> NoReturn:
    """End the command: ``error: message`` on stderr, exit status 2, no traceback."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


def stderr(line: str) -> None:
    click.echo(line, err=True)


def dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Group(click.Group):
    """A command group whose --help shows each command's first sentence whole (click cuts it at ~45
    characters with "...")."""

    group_class = type  # subgroups (``smshook config``) list their commands the same way

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str(limit=1000)) for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# -- options ---------------------------------------------------------------------------------------


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="SMSHOOK_CONFIG",
        show_envvar=True,
        help="TOML config file (flags and SMSHOOK_* variables override it).",
    )(func)


database_option = click.option("--database", help="sqlite:///PATH or postgresql://… [default: from the configuration].")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
connection_option = click.option("--connection", help="Only this connection.")


# -- settings and the store ------------------------------------------------------------------------


def load(config_file: Path | None, *, serving: bool = False, **overrides: Any) -> tuple[Settings, list[str]]:
    """The settings every command runs with, and the warnings to print: loaded from the file, the
    environment and ``overrides`` (flags; None: not given), checked for exposure (an unprotected
    public bind is refused unless ``insecure``, as ``serve`` would; ``serving``: the refusal speaks of
    starting the server) and for signing. A problem ends
    the command with its message."""
    try:
        settings = load_settings(config_file, **overrides)
        from smshook.preflight import signing_warnings

        return settings, check_exposure(settings, serving=serving) + signing_warnings(settings)
    except ConfigError as exc:
        fail(str(exc))


def settings_for(config_file: Path | None, database: str | None) -> Settings:
    """:func:`load` for a command that reads or changes the store (``--database`` may override it)."""
    return load(config_file, database=database)[0]


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
        fail(str(exc))
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
        fail(str(exc))


# -- values ----------------------------------------------------------------------------------------


def utc(value: str | None, name: str) -> str | None:
    """An ISO 8601 ``--since``/``--until`` as the store's fixed-width UTC text (no zone: UTC)."""
    from datetime import UTC, datetime

    from smshook.events import stamp

    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{name}: {value!r} is not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)")
    return stamp(when if when.tzinfo else when.replace(tzinfo=UTC))


async def pages(fetch: Callable[[int, str | None], Awaitable[list[Row]]], limit: int | None = None, *,
                key: str = "id") -> AsyncIterator[list[Row]]:
    """A newest-first listing page by page: ``fetch(size, before)`` gets up to ``size`` rows older
    than the cursor ``before`` (the last row's ``key``; None: from the newest). Stops after ``limit``
    rows (None: all) or at a page shorter than asked for, so an export of millions stays small in memory."""
    shown, before = 0, None
    while limit is None or shown < limit:
        want = PAGE if limit is None else min(PAGE, limit - shown)
        rows = await fetch(want, before)
        yield rows
        shown += len(rows)
        if len(rows) < want:
            return
        before = rows[-1][key]
