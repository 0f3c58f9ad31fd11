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
        if isinstance(v, int):
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
    return "\n".join(lines)
