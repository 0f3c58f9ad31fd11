"""``smshook config check`` and ``smshook config reference``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from smshook.cli.common import Group, config_option, fail, load
from smshook.errors import ConfigError
from smshook.settings import reference_markdown


@click.group(cls=Group)
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
def config_check(config_file: Path | None, as_json: bool) -> None:
    """Validate the configuration and print it, secrets masked (exit 2 when invalid)."""
    settings, warnings = load(config_file)
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
        fail(f"{update_file}: {exc}")
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


COMMANDS = (config,)
