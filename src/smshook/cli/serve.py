"""``smshook serve`` (receive callbacks, serve the API) and ``smshook migrate``."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from smshook import __version__
from smshook.cli.common import base_url, config_option, database_option, fail, load, stderr
from smshook.errors import ConfigError

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


@click.command()
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
    settings, warnings = load(
        config_file,
        serving=True,
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
        fail(problem)
    log_options = (settings.log_level, settings.log_format, not settings.log_phone_numbers)
    logs.configure(*log_options)
    url = base_url(settings.host, settings.port)
    logger = logging.getLogger("smshook")
    json_logs = settings.log_format == "json"  # then every stderr line is a JSON object
    echo: Callable[..., None] = logger.info if json_logs else stderr
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
        fail(str(exc))
    os.environ[WORKER_SETTINGS] = settings_json(settings)
    uvicorn.run("smshook.app:worker_app", factory=True, workers=settings.workers, **options)


@click.command()
@config_option
@database_option
def migrate(config_file: Path | None, database: str | None) -> None:
    """Apply pending database migrations and print them (serve does this at start unless --no-migrate)."""
    import asyncio

    from smshook.errors import StoreError
    from smshook.settings import mask_url
    from smshook.storage import make_store

    settings, _ = load(config_file, database=database)
    try:
        applied: list[str] = asyncio.run(make_store(settings.database).upgrade())
    except (ConfigError, StoreError) as exc:
        fail(str(exc))
    for name in applied:
        click.echo(f"applied {name}")
    state = f"{len(applied)} migration(s) applied" if applied else "nothing to apply"
    click.echo(f"{mask_url(settings.database)}: schema up to date ({state})")


COMMANDS = (serve, migrate)
